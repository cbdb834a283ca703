import { createHash } from 'node:crypto';
import { JOBS } from '@esh3ar/contracts';
import calculateSlot from 'cluster-key-slot';

/**
 * Every Redis key Esh3ar writes starts with REDIS_PREFIX, so several stacks and test
 * runs share one Redis. BullMQ's own keys start with `queuePrefix(queue)`.
 *
 * Two layouts. On one Redis, the names every release before Cluster support wrote, so an
 * upgrade finds its buffer, its queued jobs and its idempotency records where they were.
 * On Redis Cluster (`cluster`), every key that a script or a MULTI touches together with
 * another carries the same hash tag (`{…}`: only that part picks the slot), and what
 * every request touches is spread over many slots rather than heaped on one master.
 * docs/design.md ("Redis Cluster") lists every key with its slot rule.
 */
export interface RedisKeys {
  prefix: string;
  /** Laid out for Redis Cluster (REDIS_CLUSTER_NODES is set). */
  cluster: boolean;
  /**
   * BullMQ's `prefix` option for one queue. BullMQ's scripts touch several keys of a queue
   * at once, so on a Cluster the prefix is a hash tag of its own per queue, `{<prefix>:<queue>}`
   * (BullMQ's documented way): each queue's keys share one slot, and the queues spread
   * over the masters. On one Redis, REDIS_PREFIX itself.
   */
  queuePrefix(queue: string): string;
  /**
   * The ingest queues, by name: `ingest` on one Redis; on a Cluster `ingest` and
   * `ingest-1` … `ingest-7`, each in a slot of its own (INGEST_QUEUE_TAGS), so that the
   * api's writes and the workers' scripts spread over the masters rather than heap on the
   * one master of a single queue. The api writes each batch to the next queue in turn;
   * every worker takes jobs from all of them.
   */
  ingestQueues: readonly string[];
  /**
   * String in a queue's slot, written only to wait for that master's replicas after it
   * (replicas.ts): whatever the master took before it, they hold once they hold it.
   */
  replicationMark(queue: string): string;
  /**
   * Hashes: the buffer index (buffer.ts, its only reader and writer), every accepted
   * message not yet stored, each in the shard `bufferShard(id)` names. One on one Redis.
   */
  bufferShards: readonly string[];
  bufferShard(messageId: string): string;
  /** String: one Idempotency-Key's record (apps/api/src/idempotency-record.ts has its layout). */
  idempotency(tenantId: string, key: string): string;
  /**
   * String: the time (ms) since which Redis has held every idempotency record of the
   * tenant; written when missing, so a Redis that lost its data has a young one
   * (apps/api/src/idempotency.ts). The claim script reads it with the record, so on a
   * Cluster there is one per tenant, in the tenant's slot; on one Redis one for all.
   */
  idempotencySince(tenantId: string): string;
}

/**
 * The hash tags of the 16 buffer shards on a Cluster, chosen so that shard n's slot is in
 * [1024n, 1024n + 1024): every master of a cluster whose masters hold ranges of at least
 * 1024 slots (as `redis-cli --cluster create` makes them for up to 16 masters) holds a
 * shard, and 3 masters hold 5, 5 and 6. One hash took every accepted message's HSET and
 * the worker's HDEL: on a Cluster, one master would have taken all of them.
 */
export const BUFFER_SHARD_TAGS = [
  'b22',
  'b13',
  'b1',
  'b62',
  'b23',
  'b12',
  'b0',
  'b63',
  'b20',
  'b11',
  'b3',
  'b60',
  'b21',
  'b10',
  'b2',
  'b61',
] as const;

/**
 * The hash tags of the ingest queues after the first on a Cluster, chosen so that queue n's
 * slot is in the n-th seventh of the 16,384: a cluster whose masters hold ranges of at least
 * 2,341 slots (up to 7 masters, as `redis-cli --cluster create` makes them) has one on every
 * master, and 3 masters hold 2 or 3 each besides the first queue's.
 */
export const INGEST_QUEUE_TAGS = ['i0', 'i20', 'i1', 'i23', 'i2', 'i13', 'i3'] as const;
const INGEST_QUEUE = JOBS.ingest.queue;

export function redisKeys(prefix: string, options: { cluster?: boolean } = {}): RedisKeys {
  const cluster = options.cluster === true;
  const bufferShards = cluster ? BUFFER_SHARD_TAGS.map((tag) => `${prefix}:buffer:{${tag}}`) : [`${prefix}:buffer:index`];
  // A tenant's keys that one script reads together share its tag.
  const tenant = (tenantId: string) => (cluster ? `{t:${tenantId}}` : tenantId);
  const ingestTags = new Map<string, string>(INGEST_QUEUE_TAGS.map((tag, i) => [`${INGEST_QUEUE}-${i + 1}`, tag]));
  const queuePrefix = (queue: string) => {
    if (!cluster) return prefix;
    const tag = ingestTags.get(queue);
    return tag === undefined ? `{${prefix}:${queue}}` : `${prefix}:{${tag}}`;
  };
  return {
    prefix,
    cluster,
    queuePrefix,
    ingestQueues: cluster ? [INGEST_QUEUE, ...ingestTags.keys()] : [INGEST_QUEUE],
    replicationMark: (queue) => `${queuePrefix(queue)}:${queue}:replicated`,
    bufferShards,
    // CRC16 of the id, as Cluster picks slots: UUIDv7 ids spread evenly.
    bufferShard: (id) => bufferShards[calculateSlot(id) % bufferShards.length]!,
    // Hashed: a key may be 255 arbitrary characters. "idempotency", not the JSON records'
    // former "idem": a record of the older layout is never read, and expires within 24 h.
    idempotency: (tenantId, key) => `${prefix}:idempotency:${tenant(tenantId)}:${createHash('sha256').update(key).digest('base64url')}`,
    idempotencySince: (tenantId) => (cluster ? `${prefix}:idempotency:${tenant(tenantId)}:since` : `${prefix}:idempotency:since`),
  };
}
