import { randomUUID } from 'node:crypto';
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
  dispatch: (messages: BufferedMessage[], expiresAtOf: (m: BufferedMessage) => string | null, release: string) => Promise<void>;
  /**
   * After the round committed: the released app messages to the gateways holding their
   * phones (dispatch/pipeline.ts releasedMessagePipeline). Best effort, as for stored
   * batches: a failure is logged, and the devices get them from the replay.
   */
  publish?: (messages: BufferedMessage[], expiresAtOf: (m: BufferedMessage) => string | null) => Promise<void>;
  /** The time rows are due by at each round; null (the default): PostgreSQL's clock. Tests move it. */
  clock?: () => Date | null;
}

// Rounds at once while a backlog lasts: a round's UPDATE is most of its PostgreSQL time
// (~20 of ~30 ms for 1000 rows), and a second round overlaps it with the other's Redis work
// and commit: 33,500 rows/s against 22,000–26,000 for one, 25,000–34,600 for three (2 cores,
// 20,000 due rows, releaseDue alone). Each holds a pool connection while it runs.
const MAX_LANES = 2;

/**
 * Moves scheduled messages to pending when their time comes, in every worker: each round
 * takes up to worker.batchSize due rows (critical first, then the oldest), releases them or
 * holds them again for quiet hours, dispatches the released ones and commits, all in one
 * transaction (packages/db's releaseDue). Workers racing over the same rows split them (FOR
 * UPDATE SKIP LOCKED): each message is released once. A round that took a full batch is
 * followed at once by the next, and by a second one beside it (MAX_LANES), so a backlog
 * drains as fast as PostgreSQL takes the writes; otherwise the loop waits pollMs. A failed
 * round (PostgreSQL or Redis unavailable) rolls back, is logged once per outage, and the
 * next poll tries again; the worker carries on. The loop plays no part in readiness: a
 * worker that cannot release cannot store either, and says so there.
 */
export class ReleaseLoop {
  readonly #options: ReleaseLoopOptions;
  #timer: NodeJS.Timeout | undefined;
  readonly #lanes = new Set<Promise<void>>();
  #failing = false;
  #closing = false;

  constructor(options: ReleaseLoopOptions) {
    this.#options = options;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closing) return;
    this.#timer = setTimeout(() => this.#startLane(), this.#options.pollMs);
    this.#timer.unref();
  }

  /** Rounds back to back while they come back full; the last lane to end schedules the next poll. */
  #startLane(): void {
    const lane: Promise<void> = (async () => {
      while (!this.#closing && (await this.#tick())) if (this.#lanes.size < MAX_LANES) this.#startLane();
    })().finally(() => {
      this.#lanes.delete(lane);
      if (this.#lanes.size === 0) this.#schedule();
    });
    this.#lanes.add(lane);
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
      // A name per round: a round rolled back and done again adds its provider jobs anew (send-jobs.ts).
      dispatch: (released) => dispatch(released.map(messageOf), expiresAtOf(released), randomUUID()),
    });
    metrics.rounds.inc({ outcome: 'done' });
    metrics.roundDuration.observe((performance.now() - started) / 1000);
    if (round.taken === 0) return round;
    if (round.released.length > 0 && this.#options.publish) {
      await this.#options
        .publish(round.released.map(messageOf), expiresAtOf(round.released))
        .catch((error: unknown) =>
          this.#options.logger.warn({ err: error }, 'released messages not published to gateways; devices get them on connect'),
        );
    }
    metrics.released.inc({ outcome: 'released' }, round.released.length);
    metrics.released.inc({ outcome: 'held' }, round.held.length);
    for (const due of round.released) metrics.lag.observe((round.now.getTime() - Date.parse(due.message.sendAt!)) / 1000);
    this.#options.logger.debug({ released: round.released.length, held: round.held.length }, 'scheduled messages released');
    return round;
  }

  /** Stops taking rounds and waits for those in flight (each commits or rolls back). */
  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#timer);
    await Promise.allSettled([...this.#lanes]);
  }
}

const messageOf = (due: DueMessage) => due.message;

function expiresAtOf(released: readonly DueMessage[]): (m: BufferedMessage) => string | null {
  const byId = new Map(released.map((d) => [d.message.id, d.expiresAt]));
  return (m) => byId.get(m.id) ?? null;
}
