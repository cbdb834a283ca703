import type { DeliveryItem } from '@esh3ar/contracts';
import { replayMessages } from '@esh3ar/db';
import type { GatewayMetrics } from '@esh3ar/observability';
import pLimit, { type LimitFunction } from 'p-limit';
import type pg from 'pg';
import type { Logger } from 'pino';
import { isOpen, type ConnectionState } from './connection.ts';
import { REPLAYED_FRAME } from './frames.ts';
import type { Pushes } from './pushes.ts';
import type { SlowReaders } from './slow-readers.ts';

export interface ReplaysOptions {
  pool: pg.Pool;
  metrics: GatewayMetrics;
  logger: Logger;
  pageSize: number;
  /** Replays reading PostgreSQL at once; the others wait their turn in arrival order. */
  atOnce: number;
  pushes: Pick<Pushes, 'push' | 'batch'>;
  slow: Pick<SlowReaders, 'has' | 'owe' | 'send'>;
  /** Under back-pressure (device-hub.ts) nothing is pushed, so no replay reads. */
  stalled: () => boolean;
}

/** Replays that PostgreSQL failed are tried again this often: well within the 5 s in which the gateway must resume (docs/operations.md: when PostgreSQL or Redis fails). */
const REPLAY_RETRY_MS = 1000;

/**
 * Replays from PostgreSQL: on connect, and again whenever a connection may have missed
 * live messages (presence lapsed, the subscriber reconnected, its socket drained after
 * it read too slowly, back-pressure ended, a replay failed). While a connection's replay
 * runs, its live messages wait behind it, so that none overtakes an older one. The first
 * replay that reads everything ends with a "replayed" frame, before those live messages.
 */
export class Replays {
  readonly #options: ReplaysOptions;
  readonly #limit: LimitFunction;
  /** Open connections owed a replay: it failed, or pushes were skipped under back-pressure. */
  readonly #owed = new Set<ConnectionState>();
  readonly #timer: NodeJS.Timeout;
  #retrying = false;
  /** A replay failed since the last one that read PostgreSQL: others wait for the retry tick's probe instead of querying. */
  #failing = false;

  constructor(options: ReplaysOptions) {
    this.#options = options;
    this.#limit = pLimit(options.atOnce);
    this.#timer = setInterval(() => void this.retryOwed(), REPLAY_RETRY_MS);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /**
   * Holds a connection's live messages back for a replay: they queue, as on connect, so
   * that none overtakes an older one. Answers whether the caller must run `replay`: not
   * when one is running, which then reads PostgreSQL once more before it ends.
   */
  hold(connection: ConnectionState): boolean {
    if (connection.replaying) {
      connection.replayAgain = true;
      return false;
    }
    connection.replaying = true;
    return true;
  }

  /** Pushes a live message, or queues it behind the connection's replay. */
  live(connection: ConnectionState, item: DeliveryItem): void {
    if (connection.replaying) (connection.queued ??= []).push(item);
    else this.#options.pushes.push(connection, item, 'live');
  }

  /**
   * Replays to the connection what is pending for its phone, then lets its held live
   * messages through. At most `atOnce` replays read PostgreSQL at once; the others wait
   * their turn in order. Unbounded, a reconnect storm of 2,000 phones queued 2,000
   * queries in the pool (8 connections): the acks' writes waited behind them, and those
   * still waiting after the pool's 5 s connectionTimeoutMillis failed, which closed
   * their connections, whose devices reconnected into the same storm.
   *
   * Never rejects: a replay that PostgreSQL fails lets the live messages through, keeps
   * the connection, and is tried again within REPLAY_RETRY_MS of PostgreSQL answering.
   */
  replay(connection: ConnectionState): Promise<void> {
    const done = this.#limit(() => this.#replayNow(connection, false)).then(() => this.#countWaiting());
    this.#countWaiting();
    return done;
  }

  /** A replay is owed: when the slow reader's socket drains, else at the next retry tick. */
  owe(connection: ConnectionState): void {
    if (!this.#options.slow.owe(connection)) this.#owed.add(connection);
  }

  /** A replay is owed at the next retry tick (or when back-pressure ends), slow or not. */
  oweAtRetry(connection: ConnectionState): void {
    this.#owed.add(connection);
  }

  /** The connection is gone. */
  remove(connection: ConnectionState): void {
    if (this.#owed.delete(connection)) this.#countWaiting();
  }

  /** Answers whether the replay read everything (or the connection closed); false when it is owed again. */
  async #replayNow(connection: ConnectionState, probe: boolean): Promise<boolean> {
    const { pool, pageSize, pushes, slow, stalled, metrics, logger } = this.#options;
    let complete = false;
    try {
      // Known to fail, or nothing may be pushed now: no query. The retry tick's probe
      // finds out when PostgreSQL answers again.
      // Slow: owed until its socket drains.
      if (stalled() || slow.has(connection) || (this.#failing && !probe)) return false;
      do {
        connection.replayAgain = false;
        if (!isOpen(connection)) return (complete = true);
        for await (const page of replayMessages(pool, connection.phone, pageSize, connection.tenant)) {
          if (!isOpen(connection)) return (complete = true);
          if (stalled() || slow.has(connection)) return false;
          pushes.batch(() => {
            for (const item of page) pushes.push(connection, item, 'replay');
          });
          // What this page could not push (slow, or back-pressure) is owed from its start,
          // now: were the next page read first, a drain during that query would let the
          // newer page through ahead of the skipped older messages.
          if (stalled() || slow.has(connection)) return false;
        }
      } while (connection.replayAgain);
      if (this.#failing) logger.info('replays read PostgreSQL again');
      this.#failing = false;
      return (complete = true);
    } catch (error) {
      metrics.replayFailures.inc();
      // Once per outage: in a reconnect storm every waiting replay would say the same.
      if (!this.#failing)
        logger.warn({ err: error, connectionId: connection.id }, 'replay failed; connections kept, replays tried again every second');
      this.#failing = true;
      return false;
    } finally {
      if (!complete && isOpen(connection)) this.owe(connection);
      // The backlog is through: told once per connection, ahead of the live messages held
      // behind this replay, so that a device counts none of those as backlog.
      if (complete && !connection.replayedOnce && isOpen(connection)) {
        connection.replayedOnce = true;
        slow.send(connection, REPLAYED_FRAME);
      }
      connection.replaying = false;
      const queued = connection.queued;
      connection.queued = undefined;
      if (queued)
        pushes.batch(() => {
          for (const item of queued) pushes.push(connection, item, 'live');
        });
    }
  }

  /**
   * The owed replays, again: one first, then, if it read PostgreSQL, the rest. While
   * PostgreSQL is down that is one failed query a tick, not one per connection.
   */
  async retryOwed(): Promise<void> {
    if (this.#options.stalled() || this.#retrying || this.#owed.size === 0) return;
    this.#retrying = true;
    try {
      const owed: ConnectionState[] = [];
      for (const c of this.#owed) {
        if (!isOpen(c)) continue;
        // Slow since it was owed: it replays when its socket drains.
        if (this.#options.slow.has(c)) this.owe(c);
        else owed.push(c);
      }
      this.#owed.clear();
      const probeAt = owed.findIndex((c) => this.hold(c));
      if (probeAt === -1) return; // all of them replaying already, and owed again if that fails
      const probe = owed[probeAt]!;
      const rest = owed.slice(probeAt + 1);
      if (!(await this.#limit(() => this.#replayNow(probe, true)))) {
        for (const c of rest) this.#owed.add(c);
        return;
      }
      await Promise.all(rest.filter((c) => isOpen(c) && this.hold(c)).map((c) => this.replay(c)));
    } finally {
      this.#retrying = false;
      this.#countWaiting();
    }
  }

  #countWaiting(): void {
    this.#options.metrics.replaysWaiting.set(this.#limit.pendingCount + this.#owed.size);
  }
}
