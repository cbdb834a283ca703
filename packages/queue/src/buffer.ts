import type { BufferedMessage, IngestJobData } from '@esh3ar/contracts';
import { Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { IngestJob } from './ingest-jobs.ts';
import type { RedisKeys } from './keys.ts';

/**
 * The buffer index (`keys.bufferIndex`): a Redis hash, message id → "<tenantId> <jobId>", with
 * an entry for every accepted message not yet stored. The api writes an entry before the job
 * that carries the message and reads it to answer for a message PostgreSQL does not hold
 * yet; a worker removes it once the message is stored; its HLEN is the buffer depth that
 * backpressure and readiness use. This module is the only code that knows the entry's format.
 */

/** Where a message id stands in the buffer, for one tenant. */
export type BufferLookup =
  | { kind: 'queued'; message: BufferedMessage }
  /** Indexed for the tenant when asked, but its job no longer holds it: stored meanwhile, or being stored. */
  | { kind: 'left' }
  /** Not this tenant's message, or not in the buffer. */
  | { kind: 'absent' };

/**
 * Indexes the messages of these jobs. The HSET is sent before this returns: a caller that
 * adds the jobs next on the same connection has them indexed first (Redis runs commands in
 * order), so no worker can store and un-index a message before its entry exists.
 */
export function indexBuffered(redis: Redis, keys: RedisKeys, jobs: readonly IngestJob[]): Promise<number> {
  const entries: string[] = [];
  for (const job of jobs) {
    for (const m of job.data.messages) entries.push(m.id, `${m.tenantId} ${job.opts.jobId}`);
  }
  return redis.hset(keys.bufferIndex, ...entries);
}

/** Takes messages out of the buffer index: stored, given up, or never acknowledged. Sends one HDEL with the ids as given. */
export async function removeBuffered(redis: Redis, keys: RedisKeys, ids: readonly string[]): Promise<void> {
  // HDEL without a field is an error: a job whose messages had no usable id has nothing to remove.
  if (ids.length > 0) await redis.hdel(keys.bufferIndex, ...ids);
}

/** Accepted messages not yet stored: the buffer depth. */
export function bufferDepth(redis: Redis, keys: RedisKeys): Promise<number> {
  return redis.hlen(keys.bufferIndex);
}

/**
 * Of these ids, those a job of `queue` holds (buffered: a worker will store them), and
 * those indexed with no job holding them. The index is written before the job: an id
 * indexed without its job is an enqueue that failed between the two (Redis died after
 * the HSET, before the job), whose request was never answered 202, or a message being
 * stored right now. Only a caller that knows no enqueue of these ids can still be running
 * may treat the second kind as orphans and remove them.
 */
export async function bufferedState(
  redis: Redis,
  queue: Queue,
  keys: RedisKeys,
  ids: readonly string[],
): Promise<{ buffered: string[]; indexedWithoutJob: string[] }> {
  const state = { buffered: [] as string[], indexedWithoutJob: [] as string[] };
  if (ids.length === 0) return state;
  const entries = await redis.hmget(keys.bufferIndex, ...ids);
  const jobs = new Map<string, Promise<Job<IngestJobData> | undefined>>();
  for (const [i, entry] of entries.entries()) {
    const id = ids[i]!;
    const jobId = entry?.split(' ')[1];
    if (jobId === undefined) continue;
    if (!jobs.has(jobId)) jobs.set(jobId, Job.fromId<IngestJobData>(queue, jobId));
    const job = await jobs.get(jobId);
    if (job?.data.messages.some((m) => m.id === id)) state.buffered.push(id);
    else state.indexedWithoutJob.push(id);
  }
  return state;
}

/**
 * A tenant's message as the buffer holds it: its index entry names the job, and the job's data
 * carries the message. `queue` is the ingest queue the jobs were added to.
 */
export async function findBuffered(redis: Redis, queue: Queue, keys: RedisKeys, tenantId: string, id: string): Promise<BufferLookup> {
  const entry = await redis.hget(keys.bufferIndex, id);
  const [owner, jobId] = entry?.split(' ') ?? [];
  if (owner !== tenantId || !jobId) return { kind: 'absent' };
  const job = await Job.fromId<IngestJobData>(queue, jobId);
  const message = job?.data.messages.find((m) => m.id === id);
  return message ? { kind: 'queued', message } : { kind: 'left' };
}
