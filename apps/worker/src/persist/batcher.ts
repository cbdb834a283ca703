import type { BufferedMessage } from '@esh3ar/contracts';
import { parkMessages, storeBatch, type RowToStore, type StoreResult } from '@esh3ar/db';
import type { PersistMetrics } from '@esh3ar/observability';
import { removeBuffered, type RedisClient, type RedisKeys } from '@esh3ar/queue';
import type { RuntimeConfig } from '@esh3ar/runtime';
import type pg from 'pg';
import type { Logger } from 'pino';
import { ingestFailureKind } from './ingest-failure.ts';

interface Waiting {
  rows: RowToStore[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface BatcherDeps {
  pool: pg.Pool;
  redis: RedisClient;
  keys: RedisKeys;
  metrics: PersistMetrics;
  logger: Logger;
  worker: () => RuntimeConfig['worker'];
  /** Jobs the worker may hold at once: when all of them wait here, no more can come. */
  concurrency: number;
  /**
   * Runs after the batch is committed and before its jobs are acknowledged (dispatch):
   * if it fails, the jobs are retried, the merge finds the rows, and it runs again.
   */
  afterStore?: (messages: BufferedMessage[]) => Promise<void>;
  /** Decides, just before storing, which pending rows are stored as scheduled instead (scheduling/schedule-rows.ts). */
  schedule: (rows: RowToStore[]) => RowToStore[];
}

/**
 * Gathers the rows of several ingest jobs into one COPY batch, group-commit style: a
 * batch is written at once when none is being written; otherwise when the one being
 * written ends, when it reaches worker.batchSize rows, when every job slot is waiting
 * on it, or worker.batchTimeoutMs after its first row. Light traffic is stored with
 * no added wait; heavy traffic forms large batches by itself. Each job's promise settles with the
 * batch: a batch that fails because PostgreSQL or Redis is unavailable fails all of its jobs,
 * and BullMQ retries them; one that fails for any other reason is written again job by job,
 * so that one poison job does not fail the others with it.
 */
export class PersistBatcher {
  #waiting: Waiting[] = [];
  #rowCount = 0;
  #timer: NodeJS.Timeout | undefined;
  #inFlight = new Set<Promise<void>>();
  readonly #deps: BatcherDeps;

  constructor(deps: BatcherDeps) {
    this.#deps = deps;
  }

  store(rows: RowToStore[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ rows, resolve, reject });
      this.#rowCount += rows.length;
      const { batchSize, batchTimeoutMs } = this.#deps.worker();
      // Group commit: with no batch being written, write at once (lowest latency when
      // traffic is light); while one is, gather until it ends, the batch is full, every
      // job slot waits here, or batchTimeoutMs passes.
      if (this.#inFlight.size === 0 || this.#rowCount >= batchSize || this.#waiting.length >= this.#deps.concurrency) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), batchTimeoutMs);
    });
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#waiting;
    this.#waiting = [];
    this.#rowCount = 0;
    if (batch.length === 0) return;
    const write = this.#write(batch).finally(() => {
      this.#inFlight.delete(write);
      // What gathered while this batch was written goes next, without waiting for the timer.
      if (this.#inFlight.size === 0 && this.#waiting.length > 0) this.#flush();
    });
    this.#inFlight.add(write);
  }

  async #write(batch: Waiting[]): Promise<void> {
    const { pool, redis, keys, metrics, logger } = this.#deps;
    const rows = this.#deps.schedule(batch.flatMap((w) => w.rows));
    const started = performance.now();
    let result: StoreResult;
    try {
      result = await storeBatch(pool, rows);
      // Stored (as given, as failed or as dead letters): the messages leave the buffer. If
      // this fails the jobs are retried, the merge finds the rows already there, and the
      // index is cleared then.
      await removeBuffered(
        redis,
        keys,
        rows.map((r) => r.message.id),
      );
      // What PostgreSQL holds as pending is dispatched: a row refused, canceled while queued
      // or stored otherwise by an earlier try is not; one an earlier try stored pending is.
      const held = new Set([...result.refused.map((r) => r.id), ...result.settled]);
      const pendingAlready = new Set(result.pendingAlready);
      await this.#deps.afterStore?.(
        rows
          .filter((r) => (r.state.status === 'pending' && !held.has(r.message.id)) || pendingAlready.has(r.message.id))
          .map((r) => r.message),
      );
    } catch (error) {
      const kind = ingestFailureKind(error);
      if (kind !== 'unavailable' && batch.length > 1) {
        logger.warn({ err: error, kind, jobs: batch.length }, 'batch not stored; writing its jobs one by one');
        for (const w of batch) await this.#write([w]);
        return;
      }
      metrics.batches.inc({ outcome: 'retry' });
      metrics.ingestFailures.inc({ kind }, batch.length);
      logger.warn({ err: error, kind, rows: rows.length }, 'batch not stored; its jobs will be retried');
      for (const w of batch) w.reject(error);
      return;
    }
    const seconds = (performance.now() - started) / 1000;
    const now = Date.now();
    metrics.batches.inc({ outcome: 'stored' });
    metrics.batchSize.observe(rows.length);
    metrics.copyDuration.observe(seconds);
    metrics.rows.inc({ result: 'stored' }, result.inserted - result.failed - result.parked);
    metrics.rows.inc({ result: 'duplicate' }, result.duplicates);
    metrics.rows.inc({ result: 'failed' }, result.failed);
    metrics.deadLetters.inc(result.parked);
    for (const r of rows) {
      // An acceptedAt only PostgreSQL reads ("now", "epoch": a message not from the api) has no latency to report.
      const latency = (now - Date.parse(r.message.acceptedAt)) / 1000;
      if (Number.isFinite(latency)) metrics.acceptToStored.observe({ priority: r.message.priority }, latency);
    }
    for (const refused of result.refused) logger.warn(refused, `message not storable as sent: stored as ${refused.as}`);
    logger.debug({ rows: rows.length, inserted: result.inserted, duplicates: result.duplicates, ms: seconds * 1000 }, 'batch stored');
    for (const w of batch) w.resolve();
  }

  /** worker.maxAttempts: how often a job may fail for a reason other than PostgreSQL or Redis being unavailable. */
  get maxAttempts(): number {
    return this.#deps.worker().maxAttempts;
  }

  /**
   * The rows of a job given up for good, stored as dead letters with the reason (those already
   * stored keep their rows) and taken out of the buffer. Bypasses the batch: it is rare, and
   * must not fail with others.
   */
  async giveUp(rows: RowToStore[], reason: string): Promise<void> {
    const { pool, redis, keys, metrics } = this.#deps;
    try {
      const result = await parkMessages(pool, rows, reason);
      if (rows.length > 0)
        await removeBuffered(
          redis,
          keys,
          rows.map((r) => r.message.id),
        );
      metrics.deadLetters.inc(result.parked);
    } catch (error) {
      // Unavailable: the job is retried and given up again then; counted once, when it ends.
      if (ingestFailureKind(error) !== 'unavailable') metrics.poisonJobs.inc();
      throw error;
    }
    metrics.poisonJobs.inc();
  }

  /** Messages that cannot be stored anywhere (no usable id): out of the buffer, counted; the caller logs them. */
  async discard(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await removeBuffered(this.#deps.redis, this.#deps.keys, ids);
    this.#deps.metrics.unstorable.inc(ids.length);
  }

  /** Writes what is gathered now and waits for every write in flight. */
  async drain(): Promise<void> {
    this.#flush();
    await Promise.allSettled([...this.#inFlight]);
  }
}
