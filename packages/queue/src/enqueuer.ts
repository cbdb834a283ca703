import type { BufferedMessage } from '@esh3ar/contracts';
import type { Queue } from 'bullmq';
import { bufferDepth, indexBuffered, removeBuffered } from './buffer.ts';
import { ingestJobs, type IngestJob } from './ingest-jobs.ts';
import type { RedisKeys } from './keys.ts';
import { isCluster, type RedisClient } from './redis.ts';
import { replicaWait, type ReplicaWait } from './replicas.ts';

export interface EnqueuerOptions {
  /** Messages per job at most; a larger tick is split. */
  maxPerJob: number;
  /**
   * Replicas that must hold a write before its messages count as accepted (REDIS_WAIT_REPLICAS;
   * replicas.ts): 0 trusts the master alone.
   */
  waitReplicas?: number;
  /** Called after every write with its size and duration (metrics). */
  onFlush?: (messages: number, seconds: number) => void;
}

/** How long a queue whose write failed is passed over, when there are others. */
const QUEUE_ASIDE_MS = 5000;

interface Pending {
  message: BufferedMessage;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * One job is added with one script call; addBulk wraps even one in a MULTI, and ioredis
 * copies every script the connection knows (BullMQ's ~50) into each pipeline it makes:
 * ~25 µs per write (bench/ingest/cost.ts). Most writes carry one priority, so one job.
 */
function addJobs(queue: Queue, jobs: readonly IngestJob[]): Promise<unknown> {
  const [only] = jobs;
  return jobs.length === 1 && only ? queue.add(only.name, only.data, only.opts) : queue.addBulk([...jobs]);
}

/**
 * Coalesces accepted messages into Redis writes, group-commit style: with no write in
 * flight, the messages of one event-loop tick are written at once; while one is in
 * flight, what arrives gathers and is written as soon as it ends. A write is the
 * buffer-index entries, then one job per priority (of at most maxPerJob messages). Each
 * caller's promise resolves once Redis has answered its write, so a 202 is only sent for
 * a message Redis holds (with AOF fsync on every write, and with `waitReplicas` its
 * replica too). Light traffic waits for nobody; heavy traffic forms larger jobs by itself,
 * so Redis runs fewer scripts and fsyncs per message, and the worker fetches fewer jobs
 * (bench/ingest/cost.ts). Per-message jobs would cap the api at ~0.4x of a bare route.
 */
export class IngestEnqueuer {
  #pending: Pending[] = [];
  #scheduled = false;
  #inFlight = new Set<Promise<void>>();
  #depth = 0;
  #unwritten = 0;
  #closed = false;
  /** The queue the next write goes to (an index into #queues). */
  #next = 0;
  /** Until when (performance.now()) each queue is passed over: its last write failed. */
  readonly #asideUntil: number[];
  readonly #queues: readonly Queue[];
  readonly #redis: RedisClient;
  readonly #keys: RedisKeys;
  readonly #options: EnqueuerOptions;
  readonly #replicas: ReplicaWait;

  /** `queues`: the ingest queues (`ingestQueues`), written in turn, a write each. */
  constructor(queues: readonly Queue[], redis: RedisClient, keys: RedisKeys, options: EnqueuerOptions) {
    if (queues.length === 0) throw new Error('IngestEnqueuer needs at least one ingest queue');
    this.#queues = queues;
    this.#asideUntil = queues.map(() => 0);
    this.#redis = redis;
    this.#keys = keys;
    this.#options = options;
    this.#replicas = replicaWait(redis, this.waitReplicas);
  }

  /** Replicas each write waits for at most (REDIS_WAIT_REPLICAS; replicas.ts). */
  get waitReplicas(): number {
    return this.#options.waitReplicas ?? 0;
  }

  /**
   * Resolves once the replicas (as many as each write waits for) hold every job the masters
   * of these ingest queues (all of them by default) took so far, whoever added it; rejects
   * as a write would. For a message found buffered by another request whose answer never
   * came: it may live on the master alone.
   */
  async confirmReplicated(queues: readonly string[] = this.#queues.map((q) => q.name)): Promise<void> {
    await Promise.all(queues.map((queue) => this.#replicas(this.#keys.replicationMark(queue), { mark: true })));
  }

  /**
   * The next queue in turn that is not set aside (every one is, when all are: the next in
   * turn). A queue whose master fails, or whose replica falls short of a WAIT, would
   * otherwise hold every write that comes to it for up to the WAIT's second, and the
   * writes after it with it (one write is in flight at a time).
   */
  #pickQueue(): number {
    const now = performance.now();
    const n = this.#queues.length;
    let picked = this.#next;
    for (let i = 0; i < n; i++) {
      const k = (this.#next + i) % n;
      if (this.#asideUntil[k]! <= now) {
        picked = k;
        break;
      }
    }
    this.#next = (picked + 1) % n;
    return picked;
  }

  /** Accepted messages not yet stored, as of the last write (or refresh). */
  get depth(): number {
    return this.#depth;
  }

  /**
   * The depth admission decides on: the last one Redis reported plus the messages handed to
   * enqueue() whose write has not completed. Without the latter, the requests of one busy
   * tick would all see the same depth and overshoot capacity.
   */
  get admittedDepth(): number {
    return this.#depth + this.#unwritten;
  }

  enqueue(message: BufferedMessage): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('enqueuer is closed'));
    this.#unwritten++;
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ message, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#startFlush());
      }
    });
  }

  /** Re-reads the buffer depth (the api polls it so that idle periods see the workers' progress). */
  async refreshDepth(): Promise<number> {
    this.#depth = await bufferDepth(this.#redis, this.#keys);
    return this.#depth;
  }

  #startFlush(): void {
    this.#scheduled = false;
    // One write at a time: the next starts when this one ends, with all that gathered.
    if (this.#inFlight.size > 0 && !this.#closed) return;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    const flush = this.#write(batch).finally(() => {
      this.#inFlight.delete(flush);
      if (this.#pending.length > 0) this.#startFlush();
    });
    this.#inFlight.add(flush);
  }

  async #write(batch: Pending[]): Promise<void> {
    const started = performance.now();
    const messages = batch.map((p) => p.message);
    // One write at a time, each to the next queue: on a Cluster they spread over the masters.
    const picked = this.#pickQueue();
    const queue = this.#queues[picked]!;
    let added = false;
    try {
      const jobs = ingestJobs(messages, this.#options.maxPerJob);
      // Index first, so that no worker can store (and un-index) a job before its index
      // entries exist: on one Redis, by sending it first on the same connection (Redis runs
      // commands in order); on a Cluster, where the shards and the queue live on other
      // masters, by waiting for it (one round trip more).
      const indexed = indexBuffered(this.#redis, this.#keys, jobs, queue.name);
      if (isCluster(this.#redis)) await indexed;
      await Promise.all([indexed, addJobs(queue, jobs)]);
      added = true;
      // The jobs hold the messages: they must outlive a failover of their master.
      await this.#replicas(queue.toKey('meta'));
      // Counted here rather than read back (one HLEN per shard per write): the depth only
      // grows between the api's reads of it (refreshDepth, every 200 ms), so admission errs
      // on the side of refusing; other processes' writes are seen at the next read.
      this.#depth += messages.length;
      this.#unwritten -= batch.length;
    } catch (error) {
      this.#unwritten -= batch.length;
      if (this.#queues.length > 1) this.#asideUntil[picked] = performance.now() + QUEUE_ASIDE_MS;
      // Not acknowledged: nothing was promised. Remove what may have been indexed, unless
      // the jobs are in (a replica did not acknowledge them in time): they may well be
      // stored, and a repeat of the request finds them buffered by their index entries.
      if (!added)
        removeBuffered(
          this.#redis,
          this.#keys,
          messages.map((m) => m.id),
        ).catch(() => undefined);
      for (const p of batch) p.reject(error);
      return;
    }
    for (const p of batch) p.resolve();
    // After the answers: a metrics callback that throws must not leave a request unanswered.
    try {
      this.#options.onFlush?.(messages.length, (performance.now() - started) / 1000);
    } catch {
      // metrics only
    }
  }

  /** Writes what is pending and waits for every write in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#startFlush();
    await Promise.allSettled([...this.#inFlight]);
  }
}
