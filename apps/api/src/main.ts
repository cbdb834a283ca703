import { createPool } from '@esh3ar/db';
import {
  closeInOrder,
  createIngestMetrics,
  createLogger,
  createRedisDurabilityMetrics,
  createRegistry,
  createStatementObserver,
} from '@esh3ar/observability';
import { createRedis, guardRedisDurability, IngestEnqueuer, ingestQueues, redisKeys, replicaWait, sendQueues } from '@esh3ar/queue';
import { watchRuntimeConfig } from '@esh3ar/runtime';
import closeWithGrace from 'close-with-grace';
import type { FastifyListenOptions } from 'fastify';
import { buildApp } from './app.ts';
import { waitReplicasOf } from '@esh3ar/config';
import { parseConfig, SHUTDOWN_GRACE_MS } from './config.ts';

const config = parseConfig(process.env);
const logger = createLogger('api', config.log.level);
const registry = createRegistry('api');
const keys = redisKeys(config.redis.prefix, { cluster: config.redis.clusterNodes !== null });

const pool = createPool(config.postgres.url, {
  max: config.postgresPool.max,
  applicationName: 'esh3ar-api',
  statementTimeoutMs: 5000,
  onStatement: createStatementObserver(registry, logger, { slowMs: config.postgres.slowStatementMs }),
  onConnectionError: (error, state) => logger.warn({ err: error, state }, 'PostgreSQL connection lost'),
});
// Two connections: the enqueue path keeps its commands in order (index, then job);
// the request path pipelines whatever each tick asks (rate limits, idempotency keys).
const bufferRedis = createRedis(config.redis, { name: 'esh3ar-api-buffer', failFast: true });
const requestRedis = createRedis(config.redis, { name: 'esh3ar-api-requests', failFast: true });
requestRedis.options.enableAutoPipelining = true;
for (const client of [bufferRedis, requestRedis]) client.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
// Checked each time the buffer's connection is ready, the first time included (Redis may
// be down at start-up). A Redis that can lose what it acknowledged stops the api at once
// (exit 1, after the fatal line naming the setting): an orchestrator shows the message
// in a restart loop, where a process kept running but not ready would hide it.
const durability = createRedisDurabilityMetrics(registry);
guardRedisDurability(bufferRedis, {
  allowVolatile: config.redis.allowVolatileBuffer,
  logger,
  onChecked: (report) => durability.volatile.set(report.problems.length > 0 ? 1 : 0),
  onRefused: () => process.exit(1),
});
// Redis not answering yet: the api starts anyway, answers 503 UNAVAILABLE and reports
// not ready until ioredis's reconnection reaches it.
for (const client of [bufferRedis, requestRedis])
  client.connect().catch((error: Error) => logger.warn({ err: error }, 'Redis unreachable at start-up; reconnecting'));

const runtime = await watchRuntimeConfig('api', registry, {
  pool,
  redis: config.redis,
  prefix: config.redis.prefix,
  base: config.runtime,
  logger,
});

const queues = ingestQueues(bufferRedis, keys);
const providerQueues = sendQueues(bufferRedis, keys);
const ingestMetrics = createIngestMetrics(registry);
const enqueuer = new IngestEnqueuer(queues, bufferRedis, keys, {
  maxPerJob: 500,
  waitReplicas: waitReplicasOf(config.redis),
  onFlush: (messages, seconds) => {
    ingestMetrics.enqueueBatchSize.observe(messages);
    ingestMetrics.enqueueDuration.observe(seconds);
  },
});
await enqueuer.refreshDepth().catch((error: Error) => logger.warn({ err: error }, 'buffer depth unknown until Redis answers'));
for (const q of [...queues, ...providerQueues.values()])
  q.on('error', (error) => logger.debug({ err: error, queue: q.name }, 'queue connection error'));

const app = await buildApp({
  ingestMetrics,
  sendQueues: providerQueues,
  sendQueueReplicas: replicaWait(bufferRedis, enqueuer.waitReplicas),
  logger,
  pool,
  redis: requestRedis,
  ingestQueues: queues,
  keys,
  enqueuer,
  registry,
  runtime: () => runtime.current(),
  runtimeBase: config.runtime,
  adminToken: config.adminToken,
  admission: config.admission,
  pressure: config.pressure,
  trustedProxies: config.trustedProxies,
  timeouts: config.http.timeouts,
  queueBoardWrite: config.queueBoard.write,
  receipts: config.receipts,
});
// The depth other api processes and the workers change, read a few times a second
// rather than once per request.
const depthTimer = setInterval(() => {
  enqueuer.refreshDepth().catch((error: Error) => logger.debug({ err: error }, 'buffer depth not refreshed'));
}, 200).unref();

closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
  if (err) logger.error({ err }, 'stopping after an unexpected error');
  logger.info({ signal }, 'stopping: no new requests, finishing those in flight');
  clearInterval(depthTimer);
  await closeInOrder(logger, [
    // Waits for in-flight requests, whose messages the enqueuer is writing.
    ['http server', () => app.close()],
    ['enqueuer', () => enqueuer.close()],
    [
      'queues',
      () =>
        Promise.all(
          [...queues, ...providerQueues.values()].map((q) =>
            q.close().catch((error: Error) => logger.warn({ err: error, queue: q.name }, 'queue close failed')),
          ),
        ),
    ],
    ['runtime config', () => runtime.close()],
    ['redis and postgres', () => Promise.allSettled([bufferRedis.quit(), requestRedis.quit(), pool.end()])],
  ]);
  logger.info('stopped');
});

// Fastify hands these to net.Server#listen, which knows reusePort (Node ≥ 22.12); Fastify's type does not.
const listenOptions: FastifyListenOptions & { reusePort: boolean } = {
  host: config.http.host,
  port: config.http.port,
  backlog: config.http.backlog,
  reusePort: config.http.reusePort,
};
await app.listen(listenOptions);
const address = app.server.address();
logger.info({ port: typeof address === 'object' && address ? address.port : config.http.port }, 'api listening');
