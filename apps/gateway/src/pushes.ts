import type { DeliveryItem } from '@esh3ar/contracts';
import { settledMessages } from '@esh3ar/db';
import type { GatewayMetrics } from '@esh3ar/observability';
import type { CanceledItem } from '@esh3ar/queue/presence';
import type pg from 'pg';
import type { Logger } from 'pino';
import { forget, isOpen, type Connection, type ConnectionState, type InFlight, type PhoneState } from './connection.ts';
import { messageFrame } from './frames.ts';
import type { SlowReaders } from './slow-readers.ts';
import type { StatusWriter } from './status-writer.ts';

type PushKind = 'live' | 'replay' | 'retry';

export interface PushesOptions {
  pool: pg.Pool;
  status: StatusWriter;
  metrics: GatewayMetrics;
  logger: Logger;
  ackTimeoutMs: () => number;
  /** The hub's phones, read here; their connections are added and removed by the hub. */
  phones: ReadonlyMap<string, PhoneState>;
  slow: SlowReaders;
  /** Under back-pressure (device-hub.ts) nothing is pushed. */
  stalled: () => boolean;
  /** Not pushed under back-pressure: the connection replays after the drain. */
  oweReplay: (connection: ConnectionState) => void;
}

// Enough for another device's late ack of the same messages; bounded per phone.
const RECENT_ACKS_KEPT = 64;
/**
 * Canceled ids remembered, with their phone (~1 MiB): enough to cover the delivery a
 * worker was publishing as the cancel happened (it reads presence and publishes within
 * milliseconds of its commit) even during a bulk cancel of 10,000 messages of this
 * gateway's phones. One that falls out and comes late is pushed; the re-push check then
 * finds it canceled in PostgreSQL and stops.
 */
const RECENTLY_CANCELED_KEPT = 10_000;
/** Re-push check: a fixed tick; a smaller ackTimeoutMs set at runtime takes effect at this precision. */
const REPUSH_TICK_MS = 250;
const NO_IDS: readonly string[] = Object.freeze([]);

/** A tenant's connection receives, and acknowledges, that tenant's messages only. */
const receives = (connection: Connection, tenant: string) => connection.tenant === null || tenant === connection.tenant;

/**
 * Pushes and what awaits an ack: each message is pushed once to each connection of its
 * phone, acks are recorded by the status writer, and what was not acknowledged within
 * the ack timeout is pushed again (at-least-once; the app de-duplicates by id). A
 * message its sender canceled is pushed no more once the cancel notice is in.
 */
export class Pushes {
  readonly #options: PushesOptions;
  /** Recently canceled ids → their phone, oldest first. */
  readonly #canceled = new Map<string, string>();
  readonly #timer: NodeJS.Timeout;
  #retrying = false;
  #repushFailing = false;
  /** Batches running (batch()), and what their pushes count so far, by kind: one inc per kind a batch. */
  #batching = 0;
  readonly #pushCounts: Record<PushKind, number> = { live: 0, replay: 0, retry: 0 };

  constructor(options: PushesOptions) {
    this.#options = options;
    const { logger } = options;
    this.#timer = setInterval(() => {
      this.#retryUnacknowledged().then(
        () => {
          if (this.#repushFailing) logger.info('re-push checks read PostgreSQL again');
          this.#repushFailing = false;
        },
        (error: Error) => {
          if (!this.#repushFailing) logger.warn({ err: error }, 're-push check failed; every tick retries');
          this.#repushFailing = true;
        },
      );
    }, REPUSH_TICK_MS);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /**
   * Runs `pushes` as one batch: each connection's frames leave in one write
   * (SlowReaders.batch), and the pushes are counted once at its end.
   */
  batch(pushes: () => void): void {
    this.#batching++;
    try {
      this.#options.slow.batch(pushes);
    } finally {
      if (--this.#batching === 0) this.#countPushes();
    }
  }

  push(connection: ConnectionState, item: DeliveryItem, kind: PushKind): void {
    const { phones, slow, status, metrics } = this.#options;
    const state = phones.get(connection.phone);
    if (!state || item.recipient !== connection.phone) return;
    // A connection of one tenant's identity provider: that tenant's messages only.
    if (!receives(connection, item.tenantId)) return;
    // Routed, replayed or held behind a replay before the cancel notice came in.
    if (this.#canceled.has(item.id)) {
      metrics.pushesSkipped.inc({ reason: 'canceled' });
      return;
    }
    if (this.#options.stalled()) {
      // Stored in PostgreSQL: the replay after the drain finds it.
      if (kind !== 'retry' && isOpen(connection)) this.#options.oweReplay(connection);
      return;
    }
    const now = Date.now();
    if (item.expiresAt !== null && Date.parse(item.expiresAt) <= now) return;
    if (kind !== 'retry' && (connection.pushed?.has(item.id) || state.recentlyAcked?.has(item.id))) return;
    if (slow.has(connection)) {
      // Stored in PostgreSQL: the replay once its socket drains finds it.
      if (kind !== 'retry') slow.owe(connection);
      return;
    }
    let flight = state.inFlight?.get(item.id);
    if (!flight) {
      flight = { item, frame: messageFrame(item), firstPushedAt: now, lastPushedAt: now };
      (state.inFlight ??= new Map()).set(item.id, flight);
      status.sent(item.id);
      metrics.acceptToDevice.observe({ priority: item.priority }, Math.max(0, now - Date.parse(item.createdAt)) / 1000);
    }
    (connection.pushed ??= new Set()).add(item.id);
    slow.send(connection, flight.frame);
    if (this.#batching > 0) this.#pushCounts[kind]++;
    else metrics.pushes.inc({ kind });
  }

  #countPushes(): void {
    const counts = this.#pushCounts;
    for (const kind of ['live', 'replay', 'retry'] as const) {
      if (counts[kind] === 0) continue;
      this.#options.metrics.pushes.inc({ kind }, counts[kind]);
      counts[kind] = 0;
    }
  }

  /**
   * Their sender canceled them: no connection awaits their ack any more, and they are not
   * pushed again, whether a worker's delivery of them comes after this or a replay read
   * them before the cancel.
   */
  cancel(items: readonly CanceledItem[]): void {
    const canceled = this.#canceled;
    for (const { id, recipient } of items) {
      canceled.delete(id); // a repeated notice renews it
      canceled.set(id, recipient);
      if (canceled.size > RECENTLY_CANCELED_KEPT) canceled.delete(canceled.keys().next().value!);
      const state = this.#options.phones.get(recipient);
      if (state) forget(state, id);
    }
  }

  /** Returns the ids this phone was never sent (an error frame for the device). */
  ack(connection: ConnectionState, ids: readonly string[]): readonly string[] {
    const { phones, status, metrics } = this.#options;
    const state = phones.get(connection.phone);
    let unknown: string[] | undefined;
    let at: Date | undefined;
    // Counted once a frame: most carry one id, but an app may ack 1000 at once.
    let delivered = 0;
    let repeats = 0;
    let canceled = 0;
    for (const id of ids) {
      const flight = state?.inFlight?.get(id);
      if (state && flight && receives(connection, flight.item.tenantId)) {
        forget(state, id);
        const acked = (state.recentlyAcked ??= new Map());
        acked.set(id, flight.item.tenantId);
        if (acked.size > RECENT_ACKS_KEPT) acked.delete(acked.keys().next().value);
        at ??= new Date();
        status.delivered({ id, recipient: connection.phone, at });
        delivered++;
        metrics.ackLatency.observe((at.getTime() - flight.firstPushedAt) / 1000);
        continue;
      }
      const ackedTenant = state?.recentlyAcked?.get(id);
      if (ackedTenant !== undefined && receives(connection, ackedTenant)) {
        repeats++;
      } else if (this.#canceled.get(id) === connection.phone) {
        // Pushed before the cancel: the device has it and says so. No error; nothing is written.
        canceled++;
      } else {
        (unknown ??= []).push(id);
      }
    }
    if (delivered > 0) metrics.acks.inc({ result: 'delivered' }, delivered);
    if (repeats > 0) metrics.acks.inc({ result: 'repeat' }, repeats);
    if (canceled > 0) metrics.acks.inc({ result: 'canceled' }, canceled);
    return unknown ?? NO_IDS;
  }

  /**
   * Re-pushes what was not acknowledged within the ack timeout, to every connection
   * of the phone, unless it was acknowledged through another gateway or expired.
   */
  async #retryUnacknowledged(): Promise<void> {
    // Under back-pressure nothing is pushed; what came due meanwhile goes at the first tick after.
    if (this.#retrying || this.#options.stalled()) return;
    this.#retrying = true;
    try {
      const now = Date.now();
      const due: { state: PhoneState; flight: InFlight }[] = [];
      for (const state of this.#options.phones.values()) {
        // Most phones await no ack: this tick (every 250 ms) allocates nothing for them.
        if (state.inFlight === undefined) continue;
        for (const flight of state.inFlight.values()) {
          if (now - flight.lastPushedAt >= this.#options.ackTimeoutMs()) due.push({ state, flight });
        }
      }
      if (due.length === 0) return;
      const settled = await settledMessages(
        this.#options.pool,
        due.map((d) => d.flight.item.id),
      );
      this.batch(() => {
        for (const { state, flight } of due) {
          const { item } = flight;
          if (settled.has(item.id) || (item.expiresAt !== null && Date.parse(item.expiresAt) <= now)) {
            forget(state, item.id);
            continue;
          }
          flight.lastPushedAt = now;
          for (const connection of state.connections) if (!connection.replaying) this.push(connection, item, 'retry');
        }
      });
    } finally {
      this.#retrying = false;
    }
  }
}
