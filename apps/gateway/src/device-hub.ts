import { toMessageFrame, type DeliveryItem, type ErrorFrame, type FrameErrorCode } from '@esh3ar/contracts';
import { replayMessages, settledMessages } from '@esh3ar/db';
import type { GatewayMetrics } from '@esh3ar/observability';
import pLimit, { type LimitFunction } from 'p-limit';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { StatusWriter } from './status-writer.ts';

/** One device connection. */
export interface Connection {
  /** Unique within this gateway process (presence members are "<gatewayId>|<id>"). */
  id: string;
  phone: string;
  /** The one tenant whose messages it receives (its token's issuer); null: every tenant's. */
  tenant: string | null;
  socket: WebSocket;
  /** While its replay runs, live messages wait here so none is skipped or reordered ahead. */
  replaying: boolean;
  /** Asked for while a replay ran: that replay reads PostgreSQL once more before it ends. */
  replayAgain: boolean;
  queued: DeliveryItem[] | undefined;
  /** Ids pushed to this connection and not yet acknowledged (no duplicate pushes). */
  pushed: Set<string> | undefined;
  alive: boolean;
  /** Bad frames since `badFramesSince` (frame-budget.ts). */
  badFrames: number;
  badFramesSince: number;
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
  /** Recently acknowledged ids, with their tenant: a second device's late ack is harmless, not an error. */
  recentlyAcked: Map<string, string> | undefined;
}

/** A connection holding more than `slowReaders.maxBufferedBytes` unread. */
interface SlowReader {
  /** Closes it if its socket has not drained by then. */
  timer: NodeJS.Timeout;
  /** Something was not pushed to it meanwhile: it replays once its socket drains. */
  owed: boolean;
}

export interface HubDeps {
  pool: pg.Pool;
  status: StatusWriter;
  metrics: GatewayMetrics;
  logger: Logger;
  ackTimeoutMs: () => number;
  replayPageSize: number;
  /** Replays reading PostgreSQL at once; the others wait their turn in arrival order. */
  replaysAtOnce: number;
  slowReaders: { maxBufferedBytes: number; closeAfterMs: number };
}

// Enough for another device's late ack of the same messages; bounded per phone.
const RECENT_ACKS_KEPT = 64;
/** Re-push check: a fixed tick; a smaller ackTimeoutMs set at runtime takes effect at this precision. */
const REPUSH_TICK_MS = 250;
/** Replays that PostgreSQL failed are tried again this often: well within the 5 s in which the gateway must resume (the README: when PostgreSQL or Redis fails). */
const REPLAY_RETRY_MS = 1000;

const isOpen = (c: Connection) => c.socket.readyState === c.socket.OPEN;

/**
 * Delivery to the devices connected to this gateway: replay on connect from
 * PostgreSQL, live pushes routed here by the workers, acks, and re-pushes of what
 * was not acknowledged within gateway.ackTimeoutMs (at-least-once; the app
 * de-duplicates by id).
 *
 * Back-pressure: while the status writer is full (PostgreSQL not taking the writes, or
 * slower than the acks), no device socket is read and nothing is pushed. Unread acks
 * wait in the sockets (TCP flow control holds them on the device), so that none taken
 * is ever dropped and the writer holds at most its cap plus what ws had already read;
 * not pushing means no message is shown whose ack could not be recorded, and no new
 * acks are asked for. What was not pushed is stored in PostgreSQL: those connections
 * replay once the writer drains.
 *
 * Slow readers: a push that takes a connection's unread bytes (ws's bufferedAmount, what
 * its socket has not handed to the kernel yet) to `slowReaders.maxBufferedBytes` is the
 * last one it gets until that push is written out, i.e. until the socket drains; then it
 * replays what it missed from PostgreSQL (a re-push due meanwhile comes round again at
 * the next re-push tick). So a device that does not read holds at most that much, plus
 * one frame, of this gateway's memory; one that has not drained within
 * `slowReaders.closeAfterMs` is closed with 1013 (try again later) and replays wherever
 * it reconnects. Its socket is still read: its acks are what lets the gateway forget
 * what it was sent, and its frames cost no more than any device's (bad ones are limited,
 * frame-budget.ts); and a paused socket would hide its pongs from the heartbeat.
 */
export class DeviceHub {
  readonly #phones = new Map<string, PhoneState>();
  readonly #deps: HubDeps;
  readonly #limit: LimitFunction;
  /** Open connections owed a replay: it failed, or pushes were skipped under back-pressure. */
  readonly #owed = new Set<Connection>();
  readonly #slow = new Map<Connection, SlowReader>();
  readonly #timers: NodeJS.Timeout[];
  #retrying = false;
  #retryingReplays = false;
  #repushFailing = false;
  /** A replay failed since the last one that read PostgreSQL: others wait for the retry tick's probe instead of querying. */
  #replaysFailing = false;
  #stalled = false;
  // A counter, not randomUUID(): its string is a tree of ~15 concatenated pieces
  // (~0.5 KiB) held for the connection's life; gatewayId makes the member unique.
  #lastConnectionId = 0;
  #connectionCount = 0;

  constructor(deps: HubDeps) {
    this.#deps = deps;
    this.#limit = pLimit(deps.replaysAtOnce);
    deps.status.on('full', () => this.#stall());
    deps.status.on('drain', () => this.#unstall());
    const repush = setInterval(() => {
      this.#retryUnacknowledged().then(
        () => {
          if (this.#repushFailing) deps.logger.info('re-push checks read PostgreSQL again');
          this.#repushFailing = false;
        },
        (error: Error) => {
          if (!this.#repushFailing) deps.logger.warn({ err: error }, 're-push check failed; every tick retries');
          this.#repushFailing = true;
        },
      );
    }, REPUSH_TICK_MS);
    const replays = setInterval(() => void this.#retryOwed(), REPLAY_RETRY_MS);
    this.#timers = [repush, replays];
    for (const timer of this.#timers) timer.unref();
  }

  /** Stops the timers (re-push checks, replay retries). */
  close(): void {
    for (const timer of this.#timers) clearInterval(timer);
    for (const slow of this.#slow.values()) clearTimeout(slow.timer);
  }

  /** Device sockets are not read, nor anything pushed, while the status writer is full. */
  get stalled(): boolean {
    return this.#stalled;
  }

  /** Kept as a count: the upgrade checks it for every device, and summing 40,000 connections there would not do. */
  get connectionCount(): number {
    return this.#connectionCount;
  }

  phoneConnectionCount(phone: string): number {
    return this.#phones.get(phone)?.connections.size ?? 0;
  }

  /** Over its unread-bytes threshold: nothing is pushed to it, and error frames are not sent either. */
  isSlow(connection: Connection): boolean {
    return this.#slow.has(connection);
  }

  connections(): Connection[] {
    return [...this.#phones.values()].flatMap((s) => [...s.connections]);
  }

  /** Registers a connection and replays what is pending for its phone; live messages follow. */
  attach(phone: string, socket: WebSocket, tenant: string | null = null): Connection {
    const connection: Connection = {
      id: String(++this.#lastConnectionId),
      phone,
      tenant,
      socket,
      replaying: true,
      replayAgain: false,
      queued: undefined,
      pushed: undefined,
      alive: true,
      badFrames: 0,
      badFramesSince: 0,
    };
    let state = this.#phones.get(phone);
    if (!state) {
      state = { connections: new Set(), inFlight: undefined, recentlyAcked: undefined };
      this.#phones.set(phone, state);
    }
    state.connections.add(connection);
    this.#connectionCount++;
    this.#deps.metrics.connections.inc();
    if (this.#stalled) socket.pause();
    return connection;
  }

  /**
   * Replays to the connection what is pending for its phone, then lets its held live
   * messages through. Call once presence is registered, so that nothing stored
   * meanwhile can be missed. At most `replaysAtOnce` replays read PostgreSQL at once;
   * the others wait their turn in order. Unbounded, a reconnect storm of 2,000 phones
   * queued 2,000 queries in the pool (8 connections): the acks' writes waited behind
   * them, and those still waiting after the pool's 5 s connectionTimeoutMillis failed,
   * which closed their connections, whose devices reconnected into the same storm.
   *
   * Never rejects: a replay that PostgreSQL fails lets the live messages through, keeps
   * the connection, and is tried again within REPLAY_RETRY_MS of PostgreSQL answering.
   */
  replay(connection: Connection): Promise<void> {
    const done = this.#limit(() => this.#replayNow(connection, false)).then(() => this.#countWaiting());
    this.#countWaiting();
    return done;
  }

  /** Answers whether the replay read everything (or the connection closed); false when it is owed again. */
  async #replayNow(connection: Connection, probe: boolean): Promise<boolean> {
    let complete = false;
    try {
      // Known to fail, or nothing may be pushed now: no query. The retry tick's probe
      // finds out when PostgreSQL answers again.
      // Slow: owed until its socket drains.
      if (this.#stalled || this.#slow.has(connection) || (this.#replaysFailing && !probe)) return false;
      do {
        connection.replayAgain = false;
        if (!isOpen(connection)) return (complete = true);
        for await (const page of replayMessages(this.#deps.pool, connection.phone, this.#deps.replayPageSize)) {
          if (!isOpen(connection)) return (complete = true);
          if (this.#stalled || this.#slow.has(connection)) return false;
          for (const item of page) this.#push(connection, item, 'replay');
        }
      } while (connection.replayAgain);
      if (this.#replaysFailing) this.#deps.logger.info('replays read PostgreSQL again');
      this.#replaysFailing = false;
      return (complete = true);
    } catch (error) {
      this.#deps.metrics.replayFailures.inc();
      // Once per outage: in a reconnect storm every waiting replay would say the same.
      if (!this.#replaysFailing) this.#deps.logger.warn({ err: error, connectionId: connection.id }, 'replay failed; connections kept, replays tried again every second');
      this.#replaysFailing = true;
      return false;
    } finally {
      if (!complete && isOpen(connection)) this.#owe(connection);
      connection.replaying = false;
      const queued = connection.queued;
      connection.queued = undefined;
      if (queued) for (const item of queued) this.#push(connection, item, 'live');
    }
  }

  /**
   * The owed replays, again: one first, then, if it read PostgreSQL, the rest. While
   * PostgreSQL is down that is one failed query a tick, not one per connection.
   */
  async #retryOwed(): Promise<void> {
    if (this.#stalled || this.#retryingReplays || this.#owed.size === 0) return;
    this.#retryingReplays = true;
    try {
      const owed: Connection[] = [];
      for (const c of this.#owed) {
        if (!isOpen(c)) continue;
        // Slow since it was owed: it replays when its socket drains.
        if (this.#slow.has(c)) this.#owe(c);
        else owed.push(c);
      }
      this.#owed.clear();
      const probeAt = owed.findIndex((c) => this.holdForReplay(c));
      if (probeAt === -1) return; // all of them replaying already, and owed again if that fails
      const probe = owed[probeAt]!;
      const rest = owed.slice(probeAt + 1);
      if (!(await this.#limit(() => this.#replayNow(probe, true)))) {
        for (const c of rest) this.#owed.add(c);
        return;
      }
      await Promise.all(rest.filter((c) => isOpen(c) && this.holdForReplay(c)).map((c) => this.replay(c)));
    } finally {
      this.#retryingReplays = false;
      this.#countWaiting();
    }
  }

  /** A replay is owed: when the slow reader's socket drains, else at the next retry tick. */
  #owe(connection: Connection): void {
    const slow = this.#slow.get(connection);
    if (slow !== undefined) slow.owed = true;
    else this.#owed.add(connection);
  }

  #countWaiting(): void {
    this.#deps.metrics.replaysWaiting.set(this.#limit.pendingCount + this.#owed.size);
  }

  /** The status writer is full: stop reading device sockets and pushing until it drains. */
  #stall(): void {
    this.#stalled = true;
    this.#deps.metrics.backPressure.set(1);
    const connections = this.connections();
    for (const c of connections) c.socket.pause();
    this.#deps.logger.warn(
      { pendingStatuses: this.#deps.status.pending, connections: connections.length },
      'status writes at their cap: device sockets not read and nothing pushed until they drain',
    );
  }

  #unstall(): void {
    this.#stalled = false;
    this.#deps.metrics.backPressure.set(0);
    const connections = this.connections();
    for (const c of connections) {
      // Its pong, if any, waited unread behind the pause: not a dead peer.
      c.alive = true;
      c.socket.resume();
    }
    this.#deps.logger.info({ pendingStatuses: this.#deps.status.pending, connections: connections.length }, 'status writes drained: reading device sockets and pushing again');
    void this.#retryOwed();
  }

  /**
   * Closes every connection, reading its socket again first: a paused one would never
   * read the device's close frame, and acks waiting in it are taken and written by the
   * status writer's close().
   */
  closeConnections(code: number, reason: string): void {
    for (const c of this.connections()) {
      c.socket.resume();
      c.socket.close(code, reason);
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
    this.#connectionCount--;
    this.#deps.metrics.connections.dec();
    const slow = this.#slow.get(connection);
    if (slow !== undefined) {
      clearTimeout(slow.timer);
      this.#slow.delete(connection);
      this.#deps.metrics.slowReaders.set(this.#slow.size);
    }
    if (this.#owed.delete(connection)) this.#countWaiting();
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
    // A connection of one tenant's identity provider: that tenant's messages only.
    if (connection.tenant !== null && item.tenantId !== connection.tenant) return;
    if (this.#stalled) {
      // Stored in PostgreSQL: the replay after the drain finds it.
      if (kind !== 'retry' && isOpen(connection)) this.#owed.add(connection);
      return;
    }
    const now = Date.now();
    if (item.expiresAt !== null && Date.parse(item.expiresAt) <= now) return;
    if (kind !== 'retry' && (connection.pushed?.has(item.id) || state.recentlyAcked?.has(item.id))) return;
    const slow = this.#slow.get(connection);
    if (slow !== undefined) {
      // Stored in PostgreSQL: the replay once its socket drains finds it.
      if (kind !== 'retry') slow.owed = true;
      return;
    }
    let flight = state.inFlight?.get(item.id);
    if (!flight) {
      flight = { item, firstPushedAt: now, lastPushedAt: now };
      (state.inFlight ??= new Map()).set(item.id, flight);
      this.#deps.status.sent(item.id);
      this.#deps.metrics.acceptToDevice.observe({ priority: item.priority }, Math.max(0, now - Date.parse(item.createdAt)) / 1000);
    }
    (connection.pushed ??= new Set()).add(item.id);
    const frame = JSON.stringify(toMessageFrame(item));
    if (connection.socket.bufferedAmount + Buffer.byteLength(frame) < this.#deps.slowReaders.maxBufferedBytes) {
      connection.socket.send(frame);
    } else {
      // Called once this frame, the last queued, is written out: the socket has drained.
      connection.socket.send(frame, () => this.#drained(connection));
      this.#slowDown(connection);
    }
    this.#deps.metrics.pushes.inc({ kind });
  }

  #slowDown(connection: Connection): void {
    const timer = setTimeout(() => this.#closeSlow(connection), this.#deps.slowReaders.closeAfterMs);
    timer.unref();
    this.#slow.set(connection, { timer, owed: false });
    this.#deps.metrics.slowReaderPauses.inc();
    this.#deps.metrics.slowReaders.set(this.#slow.size);
    this.#deps.logger.debug({ connectionId: connection.id, unreadBytes: connection.socket.bufferedAmount }, 'device not reading its pushes: none until its socket drains');
  }

  #drained(connection: Connection): void {
    const slow = this.#slow.get(connection);
    if (slow === undefined) return;
    clearTimeout(slow.timer);
    this.#slow.delete(connection);
    this.#deps.metrics.slowReaders.set(this.#slow.size);
    this.#deps.logger.debug({ connectionId: connection.id, owed: slow.owed }, 'device socket drained: pushing again');
    if (slow.owed && isOpen(connection) && this.holdForReplay(connection)) void this.replay(connection);
  }

  /** Kept among the slow until it is gone (detach): nothing more is pushed to it. */
  #closeSlow(connection: Connection): void {
    if (!this.#slow.has(connection) || !isOpen(connection)) return;
    this.#deps.metrics.slowReaderCloses.inc();
    this.#deps.logger.info(
      { connectionId: connection.id, unreadBytes: connection.socket.bufferedAmount, afterMs: this.#deps.slowReaders.closeAfterMs },
      'closing a device that did not read its pushes in time (1013); it replays where it reconnects',
    );
    // The close frame waits behind the unread bytes; ws destroys the socket if the device
    // has not answered it within its closeTimeout (30 s).
    connection.socket.close(1013, 'not reading fast enough, reconnect');
  }

  /** Returns the ids this phone was never sent (an error frame for the device). */
  ack(connection: Connection, ids: readonly string[]): string[] {
    const state = this.#phones.get(connection.phone);
    const unknown: string[] = [];
    const now = new Date();
    // A tenant's connection acknowledges that tenant's messages only, as it is only pushed those.
    const mine = (tenant: string) => connection.tenant === null || tenant === connection.tenant;
    for (const id of ids) {
      const flight = state?.inFlight?.get(id);
      if (state && flight && mine(flight.item.tenantId)) {
        forget(state, id);
        const acked = (state.recentlyAcked ??= new Map());
        acked.set(id, flight.item.tenantId);
        if (acked.size > RECENT_ACKS_KEPT) acked.delete(acked.keys().next().value);
        this.#deps.status.delivered({ id, recipient: connection.phone, at: now });
        this.#deps.metrics.acks.inc({ result: 'delivered' });
        this.#deps.metrics.ackLatency.observe((now.getTime() - flight.firstPushedAt) / 1000);
        continue;
      }
      const ackedTenant = state?.recentlyAcked?.get(id);
      if (ackedTenant !== undefined && mine(ackedTenant)) {
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
  async #retryUnacknowledged(): Promise<void> {
    // Under back-pressure nothing is pushed; what came due meanwhile goes at the first tick after.
    if (this.#retrying || this.#stalled) return;
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
