/**
 * @esh3ar/queue — the Redis side of Esh3ar: key names under REDIS_PREFIX, the ioredis
 * client settings, the ingest job catalogue entries with their options, the retry
 * backoff, the buffer index (buffer.ts, its only reader and writer), the per-tick enqueue
 * coalescing used by the api, and the check that the Redis holding the buffer keeps what
 * it acknowledged.
 */
export { redisKeys, type RedisKeys } from './keys.ts';
export { createRedis, type RedisOptions } from './redis.ts';
export { INGEST_ATTEMPTS, INGEST_BACKOFF, ingestJobOptions, ingestJobs, type IngestJob } from './ingest-jobs.ts';
export { cappedBackoffMs } from './backoff.ts';
export { bufferDepth, bufferedState, findBuffered, removeBuffered, type BufferLookup } from './buffer.ts';
export { IngestEnqueuer, type EnqueuerOptions } from './enqueuer.ts';
export {
  addPresence,
  beatGateway,
  gatewayChannel,
  onlineGateways,
  PRESENCE_KEY_TTL_MS,
  pruneOwnPresence,
  removePresence,
  retireGateway,
  type PresenceEntry,
} from './presence.ts';
export { enqueueReplays, sendQueues, storedSendJobs } from './send-jobs.ts';
export { keyEventsChannel, parseKeyEventNotice, publishKeyEvent, type KeyEventNotice } from './key-events.ts';
export { breakerKey, breakerStates, publishClosed, publishOpen, sharedOpenUntil, type BreakerState } from './shared-breaker.ts';
export {
  guardRedisDurability,
  readRedisDurability,
  VolatileRedisError,
  type DurabilityProblem,
  type DurabilityReport,
} from './redis-durability.ts';
