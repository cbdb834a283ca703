import type { BufferedMessage } from '@esh3ar/contracts';
import { releaseDue, type DueMessage, type ReleaseRound } from '@esh3ar/db';
import type { SchedulingMetrics } from '@esh3ar/observability';
import type pg from 'pg';
import type { Logger } from 'pino';
import { quietHold } from './quiet-hours.ts';
import type { QuietHoursOf } from './schedule-rows.ts';

export interface ReleaseLoopOptions {
  pool: pg.Pool;
  logger: Logger;
  metrics: SchedulingMetrics;
  /** How long an idle loop waits before it looks for due messages again (SCHEDULE_POLL_MS). */
  pollMs: number;
  /** Rows per round (runtime worker.batchSize), read at each round. */
  batchSize: () => number;
  quietHoursOf: QuietHoursOf;
  /**
   * What a stored message goes through (dispatch/pipeline.ts): publish to gateways, add the
   * provider jobs. `expiresAtOf` gives each its stored TTL.
   */
  dispatch: (messages: BufferedMessage[], expiresAtOf: (m: BufferedMessage) => string | null) => Promise<void>;
  /** The time rows are due by at each round; null (the default): PostgreSQL's clock. Tests move it. */
  clock?: () => Date | null;
}

/**
 * Moves scheduled messages to pending when their time comes, in every worker: each round
 * takes up to worker.batchSize due rows (critical first, then the oldest), releases them or
 * holds them again for quiet hours, dispatches the released ones and commits, all in one
 * transaction (packages/db's releaseDue). Workers racing over the same rows split them (FOR
 * UPDATE SKIP LOCKED): each message is released once. A round that took a full batch is
 * followed at once by the next, so a backlog drains at the rate PostgreSQL takes the writes;
 * otherwise the loop waits pollMs. A failed round (PostgreSQL or Redis unavailable) rolls
 * back, is logged once per outage, and the next round tries again; the worker carries on.
 * The loop plays no part in readiness: a worker that cannot release cannot store either, and
 * says so there.
 */
export class ReleaseLoop {
  readonly #options: ReleaseLoopOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #failing = false;
  #closing = false;

  constructor(options: ReleaseLoopOptions) {
    this.#options = options;
    this.#schedule(options.pollMs);
  }

  #schedule(delayMs: number): void {
    if (this.#closing) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#tick().then((full) => this.#schedule(full ? 0 : this.#options.pollMs));
    }, delayMs);
    this.#timer.unref();
  }

  /** One round; true when it took a full batch (more may be due). Never rejects. */
  async #tick(): Promise<boolean> {
    const { logger, metrics } = this.#options;
    try {
      const round = await this.round();
      if (this.#failing) logger.info('scheduled messages released again');
      this.#failing = false;
      return round.taken >= this.#options.batchSize();
    } catch (error) {
      metrics.rounds.inc({ outcome: 'failed' });
      // Once per outage, not five times a second while PostgreSQL or Redis is down.
      if (!this.#failing) logger.warn({ err: error }, 'scheduled messages not released; retrying every poll');
      this.#failing = true;
      return false;
    }
  }

  /** One round now: what it took, released and held. Rejects when PostgreSQL or Redis fails. */
  async round(): Promise<ReleaseRound> {
    const { pool, metrics, quietHoursOf, dispatch } = this.#options;
    const started = performance.now();
    const round = await releaseDue(pool, {
      limit: this.#options.batchSize(),
      at: this.#options.clock?.() ?? null,
      decide: (due, now) => quietHold(quietHoursOf(due.message.tenantId), due.message, now.getTime()),
      dispatch: (released) => dispatch(released.map(messageOf), expiresAtOf(released)),
    });
    metrics.rounds.inc({ outcome: 'done' });
    metrics.roundDuration.observe((performance.now() - started) / 1000);
    if (round.taken === 0) return round;
    metrics.released.inc({ outcome: 'released' }, round.released.length);
    metrics.released.inc({ outcome: 'held' }, round.held.length);
    for (const due of round.released) metrics.lag.observe((round.now.getTime() - Date.parse(due.message.sendAt!)) / 1000);
    this.#options.logger.debug({ released: round.released.length, held: round.held.length }, 'scheduled messages released');
    return round;
  }

  /** Stops taking rounds and waits for the one in flight (it commits or rolls back). */
  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}

const messageOf = (due: DueMessage) => due.message;

function expiresAtOf(released: readonly DueMessage[]): (m: BufferedMessage) => string | null {
  const byId = new Map(released.map((d) => [d.message.id, d.expiresAt]));
  return (m) => byId.get(m.id) ?? null;
}
