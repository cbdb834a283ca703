import { createPool } from '@esh3ar/db';
import {
  closeInOrder,
  createDispatchMetrics,
  createLogger,
  createPersistMetrics,
  createProviderMetrics,
  createQueueMetrics,
  createRedisDurabilityMetrics,
  createRegistry,
  createRetentionMetrics,
  createSchedulingMetrics,
  createStatementObserver,
  createWebhookMetrics,
  within,
} from '@esh3ar/observability';
import { waitReplicasOf } from '@esh3ar/config';
import { bufferDepth, createRedis, guardRedisDurability, ingestQueues, redisKeys, replicaWait, sendQueues } from '@esh3ar/queue';
import { watchRuntimeConfig } from '@esh3ar/runtime';
import { Worker } from 'bullmq';
import closeWithGrace from 'close-with-grace';
import { parseConfig, SHUTDOWN_GRACE_MS } from './config.ts';
import { ExpirySweeper } from './dispatch/expiry-sweeper.ts';
import { releasedMessagePipeline, storedMessagePipeline } from './dispatch/pipeline.ts';
import { jobWorkerOptions } from './job-worker-options.ts';
import { migrateWhenReachable } from './migrate-when-reachable.ts';
import { buildOpsServer } from './ops-server.ts';
import { QuietHoursCache } from './scheduling/quiet-hours-cache.ts';
import { ReleaseLoop } from './scheduling/release-loop.ts';
import { rowScheduler } from './scheduling/schedule-rows.ts';
import { PersistBatcher } from './persist/batcher.ts';
import { ingestProcessor } from './persist/ingest-processor.ts';
import { createProviderAdapters } from './providers/adapters/create-adapters.ts';
import { ProviderBreakers } from './providers/breakers.ts';
import { providerTokens } from './providers/provider-rates.ts';
import { startSendWorkers } from './providers/send-workers.ts';
import { RetentionPurger } from './retention/purger.ts';
import { WebhookDispatcher } from './webhooks/dispatcher.ts';

const config = parseConfig(process.env);
const logger = createLogger('worker', config.log.level);
// Built first: a provider named but not available stops the worker before it takes jobs.
// Each provider's connections: as many as the worker's calls in flight.
const providers = createProviderAdapters(config.providers, { concurrency: config.providers.maxInFlight, logger });
const registry = createRegistry('worker');
const keys = redisKeys(config.redis.prefix, { cluster: config.redis.clusterNodes !== null });

const pool = createPool(config.postgres.url, {
  max: config.postgresPool.max,
  applicationName: 'esh3ar-worker',
  onStatement: createStatementObserver(registry, logger, { slowMs: config.postgres.slowStatementMs }),
  onConnectionError: (error, state) => logger.warn({ err: error, state }, 'PostgreSQL connection lost'),
});
const redis = createRedis(config.redis, { name: 'esh3ar-worker', failFast: false });
redis.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
// As the api does (apps/api/src/main.ts): a Redis that can lose buffered jobs stops the worker.
const durability = createRedisDurabilityMetrics(registry);
guardRedisDurability(redis, {
  allowVolatile: config.redis.allowVolatileBuffer,
  logger,
  onChecked: (report) => durability.volatile.set(report.problems.length > 0 ? 1 : 0),
  onRefused: () => process.exit(1),
});
// Redis not answering yet is no reason to stop: ioredis keeps reconnecting, and
// commands (BullMQ's included) wait in its offline queue until it does.
redis.connect().catch((error: Error) => logger.warn({ err: error }, 'Redis unreachable at start-up; reconnecting'));

// Health first, so that a worker waiting for PostgreSQL says so (ready 503) rather
// than looking dead to an orchestrator that would restart it in a loop.
// Until the pipeline below exists: the environment's capacity and no breakers yet.
let bufferCapacity = () => config.runtime.buffer.capacity;
let breakerStates = (): Record<string, string> => ({});
const ops = buildOpsServer(registry, { postgres: { run: () => pool.query('SELECT 1') }, redis: { run: () => redis.ping() } }, async () => ({
  buffer: { depth: await within(bufferDepth(redis, keys)).catch(() => -1), capacity: bufferCapacity() },
  breakers: breakerStates(),
}));
await ops.listen({ host: config.ops.host, port: config.ops.port });
const address = ops.server.address();
const opsPort = typeof address === 'object' && address ? address.port : config.ops.port;
logger.info({ opsPort }, 'ops server listening');

await migrateWhenReachable(config.postgres.url, logger);

// esh3ar_queue_jobs: the backlog of every queue a worker takes jobs from, read at each scrape.
// The send queues are also where stored messages' send jobs are added.
const providerQueues = sendQueues(redis, keys);
const countedQueues = [...ingestQueues(redis, keys), ...providerQueues.values()];
for (const queue of countedQueues) queue.on('error', (error) => logger.debug({ err: error, queue: queue.name }, 'queue connection error'));
createQueueMetrics(registry, countedQueues);

const runtime = await watchRuntimeConfig('worker', registry, {
  pool,
  redis: config.redis,
  prefix: config.redis.prefix,
  base: config.runtime,
  logger,
});
bufferCapacity = () => runtime.current().buffer.capacity;

const dispatchMetrics = createDispatchMetrics(registry);
const providerMetrics = createProviderMetrics(registry);
const ingestWorkerSettings = { connection: redis, keys, ...config.ingest };
const breakers = new ProviderBreakers({
  redis,
  prefix: config.redis.prefix,
  logger,
  metrics: providerMetrics,
  runtime: () => runtime.current(),
  timeoutMs: config.providers.timeoutMs,
  providers: config.providers.channels,
});
const sendWorkers = startSendWorkers({
  pool,
  logger,
  metrics: providerMetrics,
  runtime: () => runtime.current(),
  breakers,
  providers: providers.channels,
  queues: providerQueues,
  takeTokens: providerTokens(redis, config.redis.prefix, config.providers.rates),
  timeoutMs: config.providers.timeoutMs,
  maxInFlight: config.providers.maxInFlight,
  worker: { ...ingestWorkerSettings, concurrency: config.providers.concurrency },
});
breakerStates = () => breakers.states();
// The send jobs hold what a provider is to send: they must outlive a failover of their master.
const pipelineDeps = {
  redis,
  prefix: config.redis.prefix,
  sendQueues: providerQueues,
  replicas: replicaWait(redis, waitReplicasOf(config.redis)),
  dispatchMetrics,
  providerMetrics,
};
const dispatch = storedMessagePipeline(pipelineDeps);
const released = releasedMessagePipeline(pipelineDeps);
const schedulingMetrics = createSchedulingMetrics(registry);
// Read before the first batch is stored, so that no message goes out inside quiet hours
// for want of them (a failed first read is logged; the cache keeps trying).
const quietHours = new QuietHoursCache(pool, logger);
await quietHours.start();
const quietHoursOf = (tenantId: string) => quietHours.get(tenantId);
// Jobs from every ingest queue (one on one Redis; on a Cluster several, spread over the
// masters), WORKER_CONCURRENCY held at once in all, into one batcher.
const perIngestQueue = Math.ceil(config.ingest.concurrency / keys.ingestQueues.length);
const ingestSlots = perIngestQueue * keys.ingestQueues.length;
const batcher = new PersistBatcher({
  pool,
  redis,
  keys,
  metrics: createPersistMetrics(registry),
  logger,
  worker: () => runtime.current().worker,
  concurrency: ingestSlots,
  afterStore: dispatch,
  schedule: rowScheduler(quietHoursOf, schedulingMetrics),
});
const releaseLoop = new ReleaseLoop({
  pool,
  logger,
  metrics: schedulingMetrics,
  pollMs: config.scheduling.pollMs,
  batchSize: () => runtime.current().worker.batchSize,
  quietHoursOf,
  dispatch: (messages, _expiresAtOf, release) => released.beforeCommit(messages, release),
  publish: released.afterCommit,
});
const expirySweeper = new ExpirySweeper(pool, logger, config.expirySweepMs, (n) => dispatchMetrics.expired.inc(n));
const webhookMetrics = createWebhookMetrics(registry);
const retention = () => runtime.current().retention;
const webhooks = new WebhookDispatcher({
  pool,
  logger,
  metrics: webhookMetrics,
  ...config.webhooks,
  disableAfterHours: () => retention().webhookDisableAfterHours,
});
const purger = new RetentionPurger({ pool, logger, metrics: createRetentionMetrics(registry), webhookMetrics, settings: retention });

const processIngestJob = ingestProcessor(batcher, logger);
const ingestWorkers = keys.ingestQueues.map((queue) => {
  const worker = new Worker(queue, processIngestJob, jobWorkerOptions(queue, { ...ingestWorkerSettings, concurrency: perIngestQueue }));
  worker.on('error', (error) => logger.warn({ err: error, queue }, 'worker error'));
  worker.on('failed', (job, error) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1))
      logger.error({ jobId: job.id, queue, err: error }, 'ingest job failed for good');
  });
  return worker;
});

closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
  if (err) logger.error({ err }, 'stopping after an unexpected error');
  logger.info({ signal }, 'stopping: no new jobs, finishing the batch in hand');
  await closeInOrder(logger, [
    [
      'ingest worker',
      async () => {
        // close() stops fetching and waits for active jobs; drain() writes their batch at once.
        const closing = Promise.allSettled(ingestWorkers.map((worker) => worker.close()));
        try {
          await batcher.drain();
        } finally {
          await closing;
        }
      },
    ],
    ['release loop', () => releaseLoop.close()],
    ['quiet hours', () => quietHours.close()],
    ['send workers', () => sendWorkers.close()],
    ['breakers', () => breakers.close()],
    ['provider connections', () => Promise.allSettled(providers.adapters.map((adapter) => adapter.close()))],
    ['expiry sweeper', () => expirySweeper.close()],
    ['retention purger', () => purger.close()],
    ['webhook dispatcher', () => webhooks.close()],
    ['ops server', () => ops.close()],
    ['queues', () => Promise.allSettled(countedQueues.map((queue) => queue.close()))],
    ['runtime config', () => runtime.close()],
    ['redis and postgres', () => Promise.allSettled([redis.quit(), pool.end()])],
  ]);
  logger.info('stopped');
});

logger.info({ opsPort, ingestQueues: keys.ingestQueues.length, concurrency: ingestSlots }, 'worker started');
