import { toMessageFrame, type DeliveryItem, type ErrorFrame, type FrameErrorCode } from '@esh3ar/contracts';
import { replayMessages, settledMessages } from '@esh3ar/db';
import type { GatewayMetrics } from '@esh3ar/observability';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { StatusWriter } from './status-writer.ts';

/** One device connection. */
export interface Connection {
  /** Unique within this gateway process (presence members are "<gatewayId>|<id>"). */
  id: string;
  phone: string;
  socket: WebSocket;
  /** While its replay runs, live messages wait here so none is skipped or reordered ahead. */
  replaying: boolean;
  /** Asked for while a replay ran: that replay reads PostgreSQL once more before it ends. */
  replayAgain: boolean;
  queued: DeliveryItem[] | undefined;
  /** Ids pushed to this connection and not yet acknowledged (no duplicate pushes). */
  pushed: Set<string> | undefined;
  alive: boolean;
}

interface InFlight {
  item: DeliveryItem;
  firstPushedAt: number;
  lastPushedAt: number;
}

/**
 * Everything this gateway holds for one phone: its connections and what awaits an ack.
 * The collections here and in Connection exist only while they hold something: most
 * connections sit idle, and an empty Set or Map costs ~0.1 KiB (bench/gateway-memory.ts).
 */
interface PhoneState {
  connections: Set<Connection>;
  inFlight: Map<string, InFlight> | undefined;
  /** Recently acknowledged ids: a second device's late ack is harmless, not an error. */
  recentlyAcked: Set<string> | undefined;
}

export interface HubDeps {
  pool: pg.Pool;
  status: StatusWriter;
  metrics: GatewayMetrics;
  logger: Logger;
  ackTimeoutMs: () => number;
  replayPageSize: number;
}

// Enough for another device's late ack of the same messages; bounded per phone.
const RECENT_ACKS_KEPT = 64;

/**
 * Delivery to the devices connected to this gateway: replay on connect from
 * PostgreSQL, live pushes routed here by the workers, acks, and re-pushes of what
 * was not acknowledged within gateway.ackTimeoutMs (at-least-once; the app
 * de-duplicates by id).
 */
export class DeviceHub {
  readonly #phones = new Map<string, PhoneState>();
  readonly #deps: HubDeps;
  #retrying = false;
  // A counter, not randomUUID(): its string is a tree of ~15 concatenated pieces
  // (~0.5 KiB) held for the connection's life; gatewayId makes the member unique.
  #lastConnectionId = 0;

  constructor(deps: HubDeps) {
    this.#deps = deps;
  }

  get connectionCount(): number {
    let n = 0;
    for (const state of this.#phones.values()) n += state.connections.size;
    return n;
  }

  connections(): Connection[] {
    return [...this.#phones.values()].flatMap((s) => [...s.connections]);
  }

  /** Registers a connection and replays what is pending for its phone; live messages follow. */
  attach(phone: string, socket: WebSocket): Connection {
    const connection: Connection = { id: String(++this.#lastConnectionId), phone, socket, replaying: true, replayAgain: false, queued: undefined, pushed: undefined, alive: true };
    let state = this.#phones.get(phone);
    if (!state) {
      state = { connections: new Set(), inFlight: undefined, recentlyAcked: undefined };
      this.#phones.set(phone, state);
    }
    state.connections.add(connection);
    this.#deps.metrics.connections.inc();
    return connection;
  }

  /** Call once presence is registered, so that nothing stored meanwhile can be missed. */
  async replay(connection: Connection): Promise<void> {
    try {
      do {
        connection.replayAgain = false;
        if (connection.socket.readyState !== connection.socket.OPEN) return;
        for await (const page of replayMessages(this.#deps.pool, connection.phone, this.#deps.replayPageSize)) {
          if (connection.socket.readyState !== connection.socket.OPEN) return;
          for (const item of page) this.#push(connection, item, 'replay');
        }
      } while (connection.replayAgain);
    } finally {
      connection.replaying = false;
      const queued = connection.queued;
      connection.queued = undefined;
      if (queued) for (const item of queued) this.#push(connection, item, 'live');
    }
  }

  /**
   * Holds a connection's live messages back for a replay again (its presence lapsed, so
   * what was stored meanwhile was routed nowhere): they queue, as on connect, so that
   * none overtakes an older one. Answers whether the caller must run `replay`: not when
   * one is running, which then reads PostgreSQL once more before it ends.
   */
  holdForReplay(connection: Connection): boolean {
    if (connection.replaying) {
      connection.replayAgain = true;
      return false;
    }
    connection.replaying = true;
    return true;
  }

  detach(connection: Connection): void {
    const state = this.#phones.get(connection.phone);
    if (!state?.connections.delete(connection)) return;
    this.#deps.metrics.connections.dec();
    // The phone's last connection here: what it did not ack stays pending/sent in
    // PostgreSQL and is replayed wherever it reconnects.
    if (state.connections.size === 0) this.#phones.delete(connection.phone);
  }

  /**
   * Messages a worker routed here. Answers the phones among them with no connection
   * here (disconnected meanwhile: the replay on reconnect has their messages).
   */
  deliver(items: readonly DeliveryItem[]): string[] {
    const absent = new Set<string>();
    for (const item of items) {
      const state = this.#phones.get(item.recipient);
      if (!state) {
        absent.add(item.recipient);
        continue;
      }
      for (const connection of state.connections) {
        if (connection.replaying) (connection.queued ??= []).push(item);
        else this.#push(connection, item, 'live');
      }
    }
    return [...absent];
  }

  #push(connection: Connection, item: DeliveryItem, kind: 'live' | 'replay' | 'retry'): void {
    const state = this.#phones.get(connection.phone);
    if (!state || item.recipient !== connection.phone) return;
    const now = Date.now();
    if (item.expiresAt !== null && Date.parse(item.expiresAt) <= now) return;
    if (kind !== 'retry' && (connection.pushed?.has(item.id) || state.recentlyAcked?.has(item.id))) return;
    let flight = state.inFlight?.get(item.id);
    if (!flight) {
      flight = { item, firstPushedAt: now, lastPushedAt: now };
      (state.inFlight ??= new Map()).set(item.id, flight);
      this.#deps.status.sent(item.id);
      this.#deps.metrics.acceptToDevice.observe({ priority: item.priority }, Math.max(0, now - Date.parse(item.createdAt)) / 1000);
    }
    (connection.pushed ??= new Set()).add(item.id);
    connection.socket.send(JSON.stringify(toMessageFrame(item)));
    this.#deps.metrics.pushes.inc({ kind });
  }

  /** Returns the ids this phone was never sent (an error frame for the device). */
  ack(connection: Connection, ids: readonly string[]): string[] {
    const state = this.#phones.get(connection.phone);
    const unknown: string[] = [];
    const now = new Date();
    for (const id of ids) {
      const flight = state?.inFlight?.get(id);
      if (state && flight) {
        forget(state, id);
        const acked = (state.recentlyAcked ??= new Set());
        acked.add(id);
        if (acked.size > RECENT_ACKS_KEPT) acked.delete(acked.values().next().value!);
        this.#deps.status.delivered({ id, recipient: connection.phone, at: now });
        this.#deps.metrics.acks.inc({ result: 'delivered' });
        this.#deps.metrics.ackLatency.observe((now.getTime() - flight.firstPushedAt) / 1000);
      } else if (state?.recentlyAcked?.has(id)) {
        this.#deps.metrics.acks.inc({ result: 'repeat' });
      } else {
        unknown.push(id);
      }
    }
    return unknown;
  }

  /**
   * Re-pushes what was not acknowledged within the ack timeout, to every connection
   * of the phone, unless it was acknowledged through another gateway or expired.
   */
  async retryUnacknowledged(): Promise<void> {
    if (this.#retrying) return;
    this.#retrying = true;
    try {
      const now = Date.now();
      const due: { state: PhoneState; flight: InFlight }[] = [];
      for (const state of this.#phones.values()) {
        // Most phones await no ack: this tick (every 250 ms) allocates nothing for them.
        if (state.inFlight === undefined) continue;
        for (const flight of state.inFlight.values()) {
          if (now - flight.lastPushedAt >= this.#deps.ackTimeoutMs()) due.push({ state, flight });
        }
      }
      if (due.length === 0) return;
      const settled = await settledMessages(this.#deps.pool, due.map((d) => d.flight.item.id));
      for (const { state, flight } of due) {
        const { item } = flight;
        if (settled.has(item.id) || (item.expiresAt !== null && Date.parse(item.expiresAt) <= now)) {
          forget(state, item.id);
          continue;
        }
        flight.lastPushedAt = now;
        for (const connection of state.connections) if (!connection.replaying) this.#push(connection, item, 'retry');
      }
    } finally {
      this.#retrying = false;
    }
  }
}

/** No connection of the phone awaits an ack of `id` any more; emptied collections go. */
function forget(state: PhoneState, id: string): void {
  if (state.inFlight?.delete(id) && state.inFlight.size === 0) state.inFlight = undefined;
  for (const c of state.connections) if (c.pushed?.delete(id) && c.pushed.size === 0) c.pushed = undefined;
}

export function errorFrame(code: FrameErrorCode, message: string): string {
  return JSON.stringify({ type: 'error', code, message } satisfies ErrorFrame);
}
