/**
 * @esh3ar/queue — the Redis side of Esh3ar: key names under REDIS_PREFIX (laid out for
 * one Redis or for Redis Cluster), the ioredis client settings (a Cluster when
 * REDIS_CLUSTER_NODES is set), the ingest job catalogue entries with their options, the retry
 * backoff, the buffer index (buffer.ts, its only reader and writer), the per-tick enqueue
 * coalescing used by the api, the provider send jobs, the providers' rate limits shared
 * by the workers, and the check that the Redis holding the buffer keeps what it
 * acknowledged. Two Redis structures with readers of their own have subpaths of their
 * own: `@esh3ar/queue/presence` (which gateway holds a phone's connections: the gateways
 * write it, the workers route by it) and `@esh3ar/queue/breaker-state` (the provider
 * breakers the workers share, which the api's readiness reports).
 */
export { redisKeys, type RedisKeys } from './keys.ts';
export { createRedis, isCluster, redisAddress, subscriberFor, type RedisClient, type RedisOptions, type RedisTarget } from './redis.ts';
export { replicaWait, ReplicaShortfallError, type ReplicaWait } from './replicas.ts';
export { INGEST_ATTEMPTS, INGEST_BACKOFF, ingestJobOptions, ingestJobs, ingestQueues, type IngestJob } from './ingest-jobs.ts';
export { cappedBackoffMs } from './backoff.ts';
export { bufferDepth, bufferedState, findBuffered, removeBuffered, type BufferLookup } from './buffer.ts';
export { IngestEnqueuer, type EnqueuerOptions } from './enqueuer.ts';
export { addSendJobs, enqueueReplays, laterSendJob, sendQueues, storedSendJobs, type LaterKind, type SendJob } from './send-jobs.ts';
export { providerRateKey, takeTokens, type Grant, type RateLimit } from './provider-rate.ts';
export { keyEventsChannel, parseKeyEventNotice, publishKeyEvent, type KeyEventNotice } from './key-events.ts';
export {
  guardRedisDurability,
  readRedisDurability,
  VolatileRedisError,
  type DurabilityProblem,
  type DurabilityReport,
} from './redis-durability.ts';
