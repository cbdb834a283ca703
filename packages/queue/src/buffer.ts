import { JOBS, type BufferedMessage, type IngestJobData } from '@esh3ar/contracts';
import { Job, type Queue } from 'bullmq';
import type { IngestJob } from './ingest-jobs.ts';
import type { RedisKeys } from './keys.ts';
import type { RedisClient } from './redis.ts';

/**
 * The buffer index (`keys.bufferShards`): Redis hashes, message id → "<tenantId> <jobId>"
 * (a job of the `ingest` queue) or "<tenantId> <jobId> <queue>" (of another ingest queue),
 * with an entry for every accepted message not yet stored, in the shard `keys.bufferShard(id)`
 * (one on one Redis, 16 on a Cluster). The api writes an entry before the job that carries
 * the message and reads it to answer for a message PostgreSQL does not hold yet; a worker
 * removes it once the message is stored; the sum of the shards' HLEN is the buffer depth
 * that backpressure and readiness use. No command names two shards, so each can live on
 * its own master. This module is the only code that knows the entry's format.
 */

/** Where a message id stands in the buffer, for one tenant. */
export type BufferLookup =
  | { kind: 'queued'; message: BufferedMessage }
  /** Indexed for the tenant when asked, but its job no longer holds it: stored meanwhile, or being stored. */
  | { kind: 'left' }
  /** Not this tenant's message, or not in the buffer. */
  | { kind: 'absent' };

/** The ids (or any items, by `idOf`) grouped by the shard that indexes them, in the order given. */
function byShard<T>(keys: RedisKeys, items: readonly T[], idOf: (item: T) => string): Map<string, T[]> {
  const shards = new Map<string, T[]>();
  for (const item of items) {
    const shard = keys.bufferShard(idOf(item));
    const group = shards.get(shard);
    if (group) group.push(item);
    else shards.set(shard, [item]);
  }
  return shards;
}

/**
 * Indexes the messages of these jobs: one HSET per shard. They are sent before this
 * returns: on one Redis, a caller that adds the jobs next on the same connection has them
 * indexed first (Redis runs commands in order), so no worker can store and un-index a
 * message before its entry exists. On a Cluster the shards and the queue live on other
 * masters, so the caller awaits this before adding the jobs.
 */
export async function indexBuffered(
  redis: RedisClient,
  keys: RedisKeys,
  jobs: readonly IngestJob[],
  queue: string = JOBS.ingest.queue,
): Promise<void> {
  const where = queue === JOBS.ingest.queue ? '' : ` ${queue}`;
  const entries = jobs.flatMap((job) => job.data.messages.map((m) => [m.id, `${m.tenantId} ${job.opts.jobId}${where}`] as const));
  await Promise.all([...byShard(keys, entries, ([id]) => id)].map(([shard, group]) => redis.hset(shard, ...group.flat())));
}

/** Takes messages out of the buffer index: stored, given up, or never acknowledged. One HDEL per shard, with the ids as given. */
export async function removeBuffered(redis: RedisClient, keys: RedisKeys, ids: readonly string[]): Promise<void> {
  // HDEL without a field is an error: a job whose messages had no usable id has nothing to remove.
  await Promise.all([...byShard(keys, ids, (id) => id)].map(([shard, group]) => redis.hdel(shard, ...group)));
}

/** Accepted messages not yet stored, the buffer depth: every shard's HLEN, summed (each exact; read at once, not as one snapshot). */
export async function bufferDepth(redis: RedisClient, keys: RedisKeys): Promise<number> {
  const lengths = await Promise.all(keys.bufferShards.map((shard) => redis.hlen(shard)));
  return lengths.reduce((sum, n) => sum + n, 0);
}

/** An index entry's parts: the tenant, the job, and the ingest queue holding the job. */
function parseEntry(entry: string | null | undefined): { owner: string; jobId: string; queue: string } | null {
  const [owner, jobId, queue = JOBS.ingest.queue] = entry?.split(' ') ?? [];
  return owner && jobId ? { owner, jobId, queue } : null;
}

/**
 * The ingest queue an index entry names. One this process does not know (written by a newer
 * version with more queues) is an error rather than "not buffered": a caller that took it
 * for gone could answer 404 for a queued message, or take its Idempotency-Key afresh.
 */
function ingestQueueNamed(queues: readonly Queue[], name: string): Queue {
  const queue = queues.find((q) => q.name === name);
  if (queue === undefined) throw new Error(`the buffer index names ingest queue "${name}", which this process does not know`);
  return queue;
}

/**
 * Of these ids, those a job of the ingest `queues` holds (buffered: a worker will store them), and
 * those indexed with no job holding them. The index is written before the job: an id
 * indexed without its job is an enqueue that failed between the two (Redis died after
 * the HSET, before the job), whose request was never answered 202, or a message being
 * stored right now. Only a caller that knows no enqueue of these ids can still be running
 * may treat the second kind as orphans and remove them. `queues` of the state: the names of
 * the queues whose jobs hold the buffered ones.
 */
export async function bufferedState(
  redis: RedisClient,
  queues: readonly Queue[],
  keys: RedisKeys,
  ids: readonly string[],
): Promise<{ buffered: string[]; indexedWithoutJob: string[]; queues: string[] }> {
  const state = { buffered: [] as string[], indexedWithoutJob: [] as string[], queues: [] as string[] };
  if (ids.length === 0) return state;
  const entryOf = new Map<string, string | null>();
  await Promise.all(
    [...byShard(keys, ids, (id) => id)].map(async ([shard, group]) => {
      const entries = await redis.hmget(shard, ...group);
      group.forEach((id, i) => entryOf.set(id, entries[i] ?? null));
    }),
  );
  const jobs = new Map<string, Promise<Job<IngestJobData> | undefined>>();
  for (const id of ids) {
    const entry = parseEntry(entryOf.get(id));
    if (entry === null) continue;
    const queue = ingestQueueNamed(queues, entry.queue);
    const jobKey = `${entry.queue} ${entry.jobId}`;
    if (!jobs.has(jobKey)) jobs.set(jobKey, Job.fromId<IngestJobData>(queue, entry.jobId));
    const job = await jobs.get(jobKey);
    if (job?.data.messages.some((m) => m.id === id)) {
      state.buffered.push(id);
      if (!state.queues.includes(entry.queue)) state.queues.push(entry.queue);
    } else state.indexedWithoutJob.push(id);
  }
  return state;
}

/**
 * A tenant's message as the buffer holds it: its index entry names the job, and the job's data
 * carries the message. `queues`: the ingest queues (the entry names the one its job is in).
 */
export async function findBuffered(
  redis: RedisClient,
  queues: readonly Queue[],
  keys: RedisKeys,
  tenantId: string,
  id: string,
): Promise<BufferLookup> {
  const entry = parseEntry(await redis.hget(keys.bufferShard(id), id));
  if (entry === null || entry.owner !== tenantId) return { kind: 'absent' };
  const job = await Job.fromId<IngestJobData>(ingestQueueNamed(queues, entry.queue), entry.jobId);
  const message = job?.data.messages.find((m) => m.id === id);
  return message ? { kind: 'queued', message } : { kind: 'left' };
}
