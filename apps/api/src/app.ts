import { answerClientError } from './client-errors.ts';
import type { ProviderChannel, SendJobData } from '@esh3ar/contracts';
import { createApiLimitMetrics, createHttpMetrics, type IngestMetrics } from '@esh3ar/observability';
import type { IngestEnqueuer, RedisClient, RedisKeys, ReplicaWait } from '@esh3ar/queue';
import type { RuntimeConfig } from '@esh3ar/runtime';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Queue } from 'bullmq';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { authenticateAdmin } from './admin-auth.ts';
import { registerApiKeyAuth } from './auth.ts';
import { errorHandler } from './error-handler.ts';
import { lazyRequestLogger } from './lazy-request-logger.ts';
import { countTimeouts, timeoutOptions, type HttpTimeouts } from './http-limits.ts';
import { registerMemoryPressure, type PressureLimits } from './memory-pressure.ts';
import { registerOpenApi } from './openapi.ts';
import { registerRateLimit } from './rate-limit.ts';
import { echoRequestId, requestId } from './request-id.ts';
import { adminRoutes } from './routes/admin.ts';
import { messageRoutes } from './routes/messages.ts';
import { dlqAdminRoutes } from './routes/dlq-admin.ts';
import { keyAdminRoutes } from './routes/keys-admin.ts';
import { quietHoursAdminRoutes } from './routes/quiet-hours-admin.ts';
import { tenantAdminRoutes } from './routes/tenants-admin.ts';
import { queueBoard } from './routes/queue-board.ts';
import { operationsRoutes } from './routes/operations.ts';
import { providerReceiptRoutes, type ReceiptSettings } from './routes/providers/receipt-routes.ts';
import { webhookAdminRoutes } from './routes/webhooks-admin.ts';

export interface AppDeps {
  /** A pino logger (typed as Fastify's view of it, so routes are not generic over pino). */
  logger: FastifyBaseLogger;
  pool: pg.Pool;
  /** Request-path Redis: rate limits, idempotency keys, buffer lookups. */
  redis: RedisClient;
  /** The ingest queues (one on one Redis, `ingestQueues`): the enqueuer adds to them; a queued message is read from its job. */
  ingestQueues: readonly Queue[];
  /** Producers of the provider send queues (DLQ replays). */
  sendQueues: ReadonlyMap<ProviderChannel, Queue<SendJobData>>;
  /** Waits until enough replicas hold a DLQ replay's send jobs (REDIS_WAIT_REPLICAS); none: the master alone. */
  sendQueueReplicas?: ReplicaWait;
  keys: RedisKeys;
  enqueuer: IngestEnqueuer;
  registry: Registry;
  /** Created by main, which also gives the enqueuer its batch metrics. */
  ingestMetrics: IngestMetrics;
  /** The runtime configuration in force (the watcher's). */
  runtime: () => RuntimeConfig;
  /** Version 0 for this process: the built-in defaults with its environment. */
  runtimeBase: RuntimeConfig;
  /** null: no /v1/admin/* routes at all. */
  adminToken: string | null;
  admission: { rateLimit: boolean; backpressure: boolean };
  pressure: PressureLimits;
  /** Proxies whose X-Forwarded-For gives request.ip (API_TRUST_PROXY); none: the peer's address. */
  trustedProxies?: readonly string[];
  timeouts: HttpTimeouts;
  /** QUEUE_BOARD_WRITE: the queue board's actions work; otherwise it is read-only. */
  queueBoardWrite: boolean;
  /** Delivery receipts: each provider's secret (config.receipts); a provider without one has no routes. */
  receipts: ReceiptSettings;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    // A log line per request would cost more than the request at 20k req/s; errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    trustProxy: deps.trustedProxies?.length ? [...deps.trustedProxies] : false,
    ...timeoutOptions(deps.timeouts),
    genReqId: requestId,
    childLoggerFactory: lazyRequestLogger,
    clientErrorHandler: answerClientError,
  });
  // Only application/json is accepted; anything else is a 415.
  app.removeContentTypeParser('text/plain');

  const httpMetrics = createHttpMetrics(deps.registry);
  const limitMetrics = createApiLimitMetrics(deps.registry);
  const { ingestMetrics } = deps;
  countTimeouts(app, limitMetrics);
  app.addHook('onRequest', echoRequestId);

  // Callback hooks, not async ones: no promise per request for work that never waits.
  app.addHook('onResponse', (request, reply, done) => {
    httpMetrics.answered(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  const handleError = errorHandler(ingestMetrics);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'no such route', details: [], requestId: request.id } });
  });

  // First: @fastify/swagger documents the routes added after it.
  await registerOpenApi(app);
  operationsRoutes(app, { ...deps, metrics: ingestMetrics });
  await providerReceiptRoutes(app, { pool: deps.pool, registry: deps.registry, settings: deps.receipts });

  await app.register(async (v1) => {
    // First: a process under pressure refuses before looking up a key or calling Redis.
    await registerMemoryPressure(v1, deps.pressure, ingestMetrics);
    registerApiKeyAuth(v1, { pool: deps.pool, redis: deps.redis, prefix: deps.keys.prefix, registry: deps.registry, logger: deps.logger });
    if (deps.admission.rateLimit)
      registerRateLimit(v1, { redis: deps.redis, prefix: deps.keys.prefix, runtime: deps.runtime, ingestMetrics, limitMetrics });
    messageRoutes(v1, { ...deps, backpressure: deps.admission.backpressure, metrics: ingestMetrics });
  });

  const { adminToken } = deps;
  if (adminToken !== null) {
    const store = { pool: deps.pool, redis: deps.redis, prefix: deps.keys.prefix, base: deps.runtimeBase };
    await app.register(async (admin) => {
      // One hook for every /v1/admin/* route registered in this scope.
      admin.addHook('onRequest', authenticateAdmin(adminToken));
      adminRoutes(admin, { store, logger: deps.logger });
      tenantAdminRoutes(admin, { pool: deps.pool, redis: deps.redis, prefix: deps.keys.prefix, logger: deps.logger });
      keyAdminRoutes(admin, { pool: deps.pool, redis: deps.redis, prefix: deps.keys.prefix, logger: deps.logger });
      dlqAdminRoutes(admin, { pool: deps.pool, sendQueues: deps.sendQueues, replicas: deps.sendQueueReplicas });
      await queueBoard(admin, [...deps.ingestQueues, ...deps.sendQueues.values()], {
        write: deps.queueBoardWrite,
        errorHandler: handleError,
        limitMetrics,
      });
      webhookAdminRoutes(admin, { pool: deps.pool, logger: deps.logger });
      quietHoursAdminRoutes(admin, { pool: deps.pool, logger: deps.logger });
    });
  }
  return app;
}
