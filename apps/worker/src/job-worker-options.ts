import { cappedBackoffMs, type RedisClient, type RedisKeys } from '@esh3ar/queue';
import type { WorkerOptions } from 'bullmq';

export interface JobWorkerSettings {
  connection: RedisClient;
  /** Where each queue's keys are (RedisKeys.queuePrefix: a hash tag per queue on a Cluster). */
  keys: RedisKeys;
  concurrency: number;
  lockDurationMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

/**
 * The options every BullMQ worker of this process shares (the ingest worker and the send
 * workers). A failed attempt waits a capped, jittered exponential backoff, unless
 * `retryAfterMs` names a wait for that error (a provider's Retry-After).
 */
export function jobWorkerOptions(
  queue: string,
  settings: JobWorkerSettings,
  retryAfterMs?: (error: Error | undefined) => number | undefined,
): WorkerOptions {
  const { connection, keys, concurrency, lockDurationMs, retryBaseMs, retryMaxMs } = settings;
  return {
    connection,
    prefix: keys.queuePrefix(queue),
    concurrency,
    lockDuration: lockDurationMs,
    stalledInterval: Math.max(1000, Math.floor(lockDurationMs / 2)),
    // A job whose worker died is always given back: re-running it is harmless (the
    // merge for ingest jobs, the claim and the provider's idempotency key for send jobs).
    maxStalledCount: 1_000_000,
    settings: {
      backoffStrategy: (attemptsMade: number, _type?: string, error?: Error) =>
        retryAfterMs?.(error) ?? cappedBackoffMs(attemptsMade, retryBaseMs, retryMaxMs),
    },
  };
}
