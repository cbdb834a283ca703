import { setTimeout as delay } from 'node:timers/promises';
import {
  dropOrphanOutbox,
  dropWebhookOutbox,
  outboxOrphanTenants,
  purgeExpiredOutbox,
  purgeMessages,
  webhookOutboxOverCap,
  withRetentionLock,
} from '@esh3ar/db';
import type { RetentionMetrics, WebhookMetrics } from '@esh3ar/observability';
import type { RuntimeConfig } from '@esh3ar/runtime';
import type pg from 'pg';
import type { Logger } from 'pino';

// Once a minute: at the default 30 days a run finds a minute's worth of old rows, so each
// run is short, and a lowered retention.days takes effect within a minute.
const INTERVAL_MS = 60_000;
// Messages per DELETE statement (their events, 3 each in the benchmark, go in the same
// statement): 47 ms mean and 113 ms p99 at 1000, 114 and 215 ms at 5000 (bench/storage/retention.ts,
// 2 cores). After each statement the purger pauses as long as it took: back to back, the
// purge left concurrent COPY inserts 0.68x of their rate alone; paced, 1.05x (no loss
// above the noise) while still deleting 10,500 messages/s beside them, ~900 million a day.
const BATCH = 1000;

export interface RetentionPurgerOptions {
  pool: pg.Pool;
  logger: Logger;
  metrics: RetentionMetrics;
  webhookMetrics: Pick<WebhookMetrics, 'eventsDropped'>;
  /** Read at each run: a new runtime configuration applies from the next one. */
  settings: () => RuntimeConfig['retention'];
  intervalMs?: number;
  batchSize?: number;
}

/** What one run deleted. */
export interface PurgeReport {
  messages: number;
  events: number;
  /** webhook_outbox rows: older than retention.days, of tenants without a webhook, or over a failing endpoint's cap. */
  outbox: number;
  /** Of those, dropped by the cap (retention.webhookBacklogMax). */
  dropped: number;
  /** DELETE statements run, and the most messages or outbox rows one of them deleted. */
  statements: number;
  largestBatch: number;
}

/**
 * Deletes what is older than the retention (docs/operations.md): messages whose last change
 * is more than retention.days ago with their events, webhook events as old, events of
 * tenants without a webhook, and a failing endpoint's backlog beyond retention.webhookBacklogMax.
 * Every worker runs one; a PostgreSQL advisory lock lets one purge at a time, and each
 * DELETE takes at most `batchSize` rows with SKIP LOCKED, so a write is never held up by
 * more than one short statement, and never by a row it holds itself.
 *
 * Why batches and not dropping time partitions: the contract counts from the last change
 * (updated_at), and partitioning by it needs a primary key that includes it (PostgreSQL:
 * "unique constraint on partitioned table must include all partitioning columns"), which
 * takes away the ON CONFLICT (id) the exactly-once COPY merge relies on, and moves a row
 * between partitions at each status change. Partitioning by id (UUIDv7, the creation time)
 * keeps the key, but a partition dropped by creation time would take messages changed
 * since (a replayed dead letter, a late delivery), and turning the existing table into
 * partitions is a migration of all its rows. Paced batches of 1000 delete 10,500
 * messages/s with no measurable loss to concurrent inserts (bench/storage/retention.ts), far more
 * than a day's intake needs once the backlog of the first run is gone.
 */
export class RetentionPurger {
  readonly #options: RetentionPurgerOptions;
  readonly #batchSize: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #closing = false;
  readonly #stop = new AbortController();

  constructor(options: RetentionPurgerOptions) {
    this.#options = options;
    this.#batchSize = options.batchSize ?? BATCH;
    for (const table of ['messages', 'message_events', 'webhook_outbox']) options.metrics.deleted.inc({ table }, 0);
    this.#schedule();
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#running = this.runOnce().finally(() => {
        if (!this.#closing) this.#schedule();
      });
    }, this.#options.intervalMs ?? INTERVAL_MS);
    this.#timer.unref();
  }

  /** One run; null when another worker holds the lock (or PostgreSQL failed: logged, the next run retries). */
  async runOnce(): Promise<PurgeReport | null> {
    const { pool, logger, metrics } = this.#options;
    const started = performance.now();
    try {
      const report = await withRetentionLock(pool, (client) => this.#purge(client));
      if (report === null) {
        metrics.runs.inc({ outcome: 'locked' });
        return null;
      }
      const seconds = (performance.now() - started) / 1000;
      metrics.runs.inc({ outcome: 'done' });
      metrics.lastRunDuration.set(seconds);
      if (report.messages + report.outbox > 0)
        logger.info({ ...report, ms: Math.round(seconds * 1000) }, 'retention purge deleted old rows');
      return report;
    } catch (error) {
      metrics.runs.inc({ outcome: 'failed' });
      logger.warn({ err: error }, 'retention purge failed; the next run retries');
      return null;
    }
  }

  async #purge(client: pg.PoolClient): Promise<PurgeReport> {
    const { days, webhookBacklogMax } = this.#options.settings();
    const { metrics, webhookMetrics } = this.#options;
    const limit = this.#batchSize;
    const report: PurgeReport = { messages: 0, events: 0, outbox: 0, dropped: 0, statements: 0, largestBatch: 0 };
    const counted = (rows: number) => {
      report.statements++;
      report.largestBatch = Math.max(report.largestBatch, rows);
      return rows;
    };
    /** Runs `batch` until it deletes fewer than a full batch (or the worker stops), paced; the total. */
    const drain = async (batch: () => Promise<number>): Promise<number> => {
      let total = 0;
      for (;;) {
        const started = performance.now();
        const rows = counted(await batch());
        total += rows;
        if (rows < limit || this.#closing) return total;
        const paused = await delay(performance.now() - started, true, { signal: this.#stop.signal }).catch(() => false);
        if (!paused) return total;
      }
    };
    const outbox = (rows: number) => {
      report.outbox += rows;
      metrics.deleted.inc({ table: 'webhook_outbox' }, rows);
      return rows;
    };

    await drain(async () => {
      const { messages, events } = await purgeMessages(client, days, limit);
      report.messages += messages;
      report.events += events;
      metrics.deleted.inc({ table: 'messages' }, messages);
      metrics.deleted.inc({ table: 'message_events' }, events);
      return messages;
    });
    await drain(async () => outbox(await purgeExpiredOutbox(client, days, limit)));
    for (const tenantId of await outboxOrphanTenants(client)) {
      if (this.#closing) break;
      await drain(async () => outbox(await dropOrphanOutbox(client, tenantId, limit)));
    }
    for (const { tenantId, dropThrough } of await webhookOutboxOverCap(client, webhookBacklogMax)) {
      if (this.#closing) break;
      const dropped = await drain(async () => outbox(await dropWebhookOutbox(client, tenantId, dropThrough, limit)));
      report.dropped += dropped;
      webhookMetrics.eventsDropped.inc(dropped);
      this.#options.logger.info(
        { tenantId, dropped, kept: webhookBacklogMax },
        'webhook backlog over retention.webhookBacklogMax: oldest events dropped',
      );
    }
    return report;
  }

  /** Stops the timer; a run in progress stops after its current statement. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#stop.abort();
    clearTimeout(this.#timer);
    await this.#running;
  }
}
