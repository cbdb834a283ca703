import { waitReplicasOf } from '@esh3ar/config';
import { createPool } from '@esh3ar/db';
import { createIngestMetrics, createLogger, createRegistry } from '@esh3ar/observability';
import { createRedis, IngestEnqueuer, ingestQueues, redisKeys, replicaWait, sendQueues, type RedisKeys } from '@esh3ar/queue';
import type { RuntimeConfig } from '@esh3ar/runtime';
import { Queue } from 'bullmq';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { buildApp } from './app.ts';
import { parseConfig } from './config.ts';

export interface InProcessApp {
  app: FastifyInstance;
  /** The app's own pool: every statement it runs is counted in `statements`. */
  pool: pg.Pool;
  /** Statements the app ran, by name (sql/*.sql file, else verb): PostgreSQL work an attacker caused. */
  statements: Map<string, number>;
  /** The app's request-path Redis connection (rate limits, idempotency keys, buffer lookups). */
  redis: Redis;
  /** The ingest queue the app's enqueuer adds jobs to. */
  queue: Queue;
  keys: RedisKeys;
  /** Its depth is re-read only when a test calls refreshDepth(), as main.ts's 200 ms timer would. */
  enqueuer: IngestEnqueuer;
  registry: Registry;
  /** A JSON request through inject(), answered in the shape of @esh3ar/stack's send() over HTTP. */
  send: (apiKey: string | null, method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<JsonAnswer>;
  /** Closes the app (a last write of key usage included), then its queues, Redis and pool. */
  close(): Promise<void>;
}

export interface JsonAnswer {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON answer, read by tests as they please
  body: any;
}

export interface InProcessOptions {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  adminToken?: string;
  env?: Record<string, string>;
  /** Where the app logs (default: errors to stdout); tests that read its lines pass their own. */
  logger?: FastifyBaseLogger;
  /** The runtime configuration in force (default: the environment's version 0). */
  runtime?: (base: RuntimeConfig) => RuntimeConfig;
  /** Connections in the app's pool (default 4). */
  poolMax?: number;
  /** Builds the app's enqueuer (default: an IngestEnqueuer); a test that stalls writes passes a subclass. */
  createEnqueuer?: (...args: ConstructorParameters<typeof IngestEnqueuer>) => IngestEnqueuer;
}

/**
 * The api in-process, wired as main.ts wires it (minus the runtime-config watcher and the
 * timer that re-reads the buffer depth), for tests that need no process: inject() against
 * real PostgreSQL and Redis.
 */
export async function startInProcessApp(options: InProcessOptions): Promise<InProcessApp> {
  // Event-loop delay off: a test's own work on this loop would be measured as the api's.
  const config = parseConfig({
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    REDIS_PREFIX: options.prefix,
    API_MAX_EVENT_LOOP_DELAY_MS: '0',
    ...options.env,
  });
  const statements = new Map<string, number>();
  const pool = createPool(config.postgres.url, {
    max: options.poolMax ?? 4,
    applicationName: 'esh3ar-test-api',
    onStatement: (name) => statements.set(name, (statements.get(name) ?? 0) + 1),
  });
  // Tests stop PostgreSQL on purpose: an idle connection it drops is replaced on next use.
  pool.on('error', () => undefined);
  const bufferRedis = createRedis(config.redis.url, { name: 'esh3ar-test-buffer', failFast: true });
  const requestRedis = createRedis(config.redis.url, { name: 'esh3ar-test-requests', failFast: true });
  requestRedis.options.enableAutoPipelining = true;
  await Promise.all([bufferRedis.connect(), requestRedis.connect()]);
  const keys = redisKeys(config.redis.prefix);
  // One Redis: one ingest queue.
  const [queue] = ingestQueues(bufferRedis, keys) as [Queue];
  const providerQueues = sendQueues(bufferRedis, keys);
  const enqueuer = (options.createEnqueuer ?? ((...args) => new IngestEnqueuer(...args)))([queue], bufferRedis, keys, { maxPerJob: 500 });
  const registry = createRegistry('api');
  const app = await buildApp({
    logger: options.logger ?? createLogger('api', 'error'),
    pool,
    redis: requestRedis,
    ingestQueues: [queue],
    sendQueues: providerQueues,
    sendQueueReplicas: replicaWait(bufferRedis, waitReplicasOf(config.redis)),
    keys,
    enqueuer,
    registry,
    ingestMetrics: createIngestMetrics(registry),
    runtime: () => options.runtime?.(config.runtime) ?? config.runtime,
    runtimeBase: config.runtime,
    adminToken: options.adminToken ?? null,
    admission: config.admission,
    pressure: config.pressure,
    trustedProxies: config.trustedProxies,
    timeouts: config.http.timeouts,
    queueBoardWrite: config.queueBoard.write,
    receipts: config.receipts,
  });
  return {
    app,
    pool,
    statements,
    redis: requestRedis,
    queue,
    keys,
    enqueuer,
    registry,
    send: (apiKey, method, path, body, headers) => injectJson(app, apiKey, method, path, body, headers),
    async close() {
      const failures: unknown[] = [];
      const steps = [
        () => app.close(),
        () => enqueuer.close(),
        () => Promise.all([queue, ...providerQueues.values()].map((q) => q.close())),
        // A test may leave Redis down: QUIT needs a connection, disconnect() does not.
        () =>
          Promise.all(
            [bufferRedis, requestRedis].map(async (r) => {
              if (r.status === 'ready') await r.quit();
              else r.disconnect();
            }),
          ),
        () => pool.end(),
      ];
      for (const step of steps) await step().catch((error: unknown) => failures.push(error));
      if (failures.length > 0) throw new AggregateError(failures, 'closing the in-process app failed');
    },
  };
}

/** What send() of @esh3ar/stack sends and answers (a bearer key, a JSON body, the body parsed when it is JSON), through inject(). */
export async function injectJson(
  app: FastifyInstance,
  apiKey: string | null,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonAnswer> {
  const response = await app.inject({
    method,
    url: path,
    headers: {
      ...(apiKey === null ? {} : { authorization: `Bearer ${apiKey}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const answered = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    for (const one of [value ?? []].flat()) answered.append(name, String(one));
  }
  let parsed: unknown = response.body;
  try {
    parsed = response.body === '' ? null : JSON.parse(response.body);
  } catch {
    // not JSON: the raw text is the body
  }
  return { status: response.statusCode, headers: answered, body: parsed };
}
