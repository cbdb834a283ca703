import type { RuntimeConfig } from '@esh3ar/config';
import type { ProviderChannel, SendJobData } from '@esh3ar/contracts';
import { createHttpMetrics, type IngestMetrics } from '@esh3ar/observability';
import type { IngestEnqueuer, RedisKeys } from '@esh3ar/queue';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { authenticateAdmin } from './admin-auth.ts';
import { authenticate, createTenantLookup } from './auth.ts';
import { toErrorAnswer } from './errors.ts';
import { registerMemoryPressure, type PressureLimits } from './memory-pressure.ts';
import { registerRateLimit } from './rate-limit.ts';
import { adminRoutes } from './routes/admin.ts';
import { messageRoutes } from './routes/messages.ts';
import { dlqAdminRoutes } from './routes/dlq-admin.ts';
import { queueBoard } from './routes/queue-board.ts';
import { operationsRoutes } from './routes/operations.ts';
import { webhookAdminRoutes } from './routes/webhooks-admin.ts';

export interface AppDeps {
  /** A pino logger (typed as Fastify's view of it, so routes are not generic over pino). */
  logger: FastifyBaseLogger;
  pool: pg.Pool;
  /** Request-path Redis: rate limits, idempotency keys, buffer lookups. */
  redis: Redis;
  queue: Queue;
  /** Producers of the provider send queues (DLQ replays). */
  sendQueues: ReadonlyMap<ProviderChannel, Queue<SendJobData>>;
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
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    // A log line per request would cost more than the request at 20k req/s; errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
  });
  // Only application/json is accepted; anything else is a 415.
  app.removeContentTypeParser('text/plain');

  const httpMetrics = createHttpMetrics(deps.registry);
  const { ingestMetrics } = deps;

  app.addHook('onResponse', async (request, reply) => {
    httpMetrics.answered(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((error, request, reply) => {
    const answer = toErrorAnswer(error);
    if (answer.status >= 500 && answer.body.error.code === 'INTERNAL') request.log.error({ err: error }, 'request failed');
    if (answer.status === 401 && !request.url.startsWith('/v1/admin/')) ingestMetrics.refused.inc({ reason: 'auth' });
    if (answer.retryAfterSeconds !== undefined) reply.header('retry-after', String(answer.retryAfterSeconds));
    if (answer.body.error.code === 'RATE_LIMITED') ingestMetrics.refused.inc({ reason: 'rate_limit' }, request.messageCost ?? 1);
    return reply.code(answer.status).send(answer.body);
  });
  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'no such route', details: [] } });
  });

  operationsRoutes(app, { ...deps, metrics: ingestMetrics });

  await app.register(async (v1) => {
    // First: a process under pressure refuses before looking up a key or calling Redis.
    await registerMemoryPressure(v1, deps.pressure, ingestMetrics);
    v1.addHook('onRequest', authenticate(createTenantLookup(deps.pool, { ttlMs: 30_000, maxEntries: 10_000 })));
    if (deps.admission.rateLimit) await registerRateLimit(v1, deps.redis, deps.keys.prefix, deps.runtime);
    messageRoutes(v1, { ...deps, backpressure: deps.admission.backpressure, metrics: ingestMetrics });
  });

  const { adminToken } = deps;
  if (adminToken !== null) {
    const store = { pool: deps.pool, redis: deps.redis, prefix: deps.keys.prefix, base: deps.runtimeBase };
    await app.register(async (admin) => {
      // One hook for every /v1/admin/* route registered in this scope.
      admin.addHook('onRequest', authenticateAdmin(adminToken));
      adminRoutes(admin, { store, logger: deps.logger });
      dlqAdminRoutes(admin, { pool: deps.pool, sendQueues: deps.sendQueues });
      await queueBoard(admin, [deps.queue, ...deps.sendQueues.values()]);
      webhookAdminRoutes(admin, { pool: deps.pool, logger: deps.logger });
    });
  }
  return app;
}
