import type { Duplex } from 'node:stream';
import type { DeliveryItem } from '@esh3ar/contracts';
import type { CanceledItem } from '@esh3ar/queue/presence';
import type { WebSocket } from 'ws';
import { isOpen, newConnection, type Connection, type ConnectionState, type PhoneState } from './connection.ts';
import { takeBadFrame } from './frame-budget.ts';
import { Pushes } from './pushes.ts';
import { Replays } from './replays.ts';
import { SlowReaders } from './slow-readers.ts';
import { readAgain, stopReading } from './back-pressure.ts';
import type { HubDeps } from './hub-deps.ts';

export type { Connection } from './connection.ts';

/**
 * Delivery to the devices connected to this gateway: replay on connect from
 * PostgreSQL (replays.ts), live pushes routed here by the workers, acks, and re-pushes
 * of what was not acknowledged within gateway.ackTimeoutMs (pushes.ts; at-least-once,
 * the app de-duplicates by id), no push of what its sender canceled, devices that do
 * not read (slow-readers.ts). The one owner of the connections' state: other modules
 * read a `Connection` and call the methods here to change it. While the status writer is full, no device socket is read
 * and nothing is pushed (back-pressure.ts).
 */
export class DeviceHub {
  readonly #phones = new Map<string, PhoneState>();
  readonly #deps: HubDeps;
  readonly #slow: SlowReaders;
  readonly #pushes: Pushes;
  readonly #replays: Replays;
  #stalled = false;
  // A counter, not randomUUID(): its string is a tree of ~15 concatenated pieces
  // (~0.5 KiB) held for the connection's life; gatewayId makes the member unique.
  #lastConnectionId = 0;
  #connectionCount = 0;

  constructor(deps: HubDeps) {
    this.#deps = deps;
    const { pool, metrics, logger } = deps;
    deps.status.on('full', () => this.#stall());
    deps.status.on('drain', () => this.#unstall());
    const stalled = () => this.#stalled;
    this.#slow = new SlowReaders({
      metrics,
      logger,
      ...deps.slowReaders,
      onDrainedOwed: (connection) => {
        if (this.holdForReplay(connection)) void this.replay(connection);
      },
    });
    this.#pushes = new Pushes({
      pool,
      status: deps.status,
      metrics,
      logger,
      ackTimeoutMs: deps.ackTimeoutMs,
      phones: this.#phones,
      slow: this.#slow,
      stalled,
      oweReplay: (connection) => this.#replays.oweAtRetry(connection),
    });
    this.#replays = new Replays({
      pool,
      metrics,
      logger,
      pageSize: deps.replayPageSize,
      atOnce: deps.replaysAtOnce,
      pushes: this.#pushes,
      slow: this.#slow,
      stalled,
    });
  }

  /** Stops the timers (re-push checks, replay retries, slow readers' deadlines). */
  close(): void {
    this.#pushes.close();
    this.#replays.close();
    this.#slow.close();
  }

  /** Device sockets are not read, nor anything pushed, while the status writer is full. */
  get stalled(): boolean {
    return this.#stalled;
  }

  /** Kept as a count: the upgrade checks it for every device, and summing 40,000 connections there would not do. */
  get connectionCount(): number {
    return this.#connectionCount;
  }

  /**
   * Connections of one phone under one tenant's tokens (null: the platform-wide secret's).
   * Counted per tenant so that one tenant's identity provider, which can mint tokens for
   * any phone, cannot take the places of another tenant's app on that phone.
   */
  phoneConnectionCount(phone: string, tenant: string | null): number {
    let n = 0;
    for (const c of this.#phones.get(phone)?.connections ?? []) if (c.tenant === tenant) n++;
    return n;
  }

  /** Over its unread-bytes threshold: nothing is pushed to it, and error frames are not sent either. */
  isSlow(connection: Connection): boolean {
    return this.#slow.has(connection);
  }

  connections(): Connection[] {
    return [...this.#phones.values()].flatMap((s) => [...s.connections]);
  }

  /**
   * Registers a connection (`tcp`: the socket ws upgraded, corked while a batch of frames
   * is written to it) and replays what is pending for its phone; live messages follow.
   */
  attach(phone: string, socket: WebSocket, tenant: string | null = null, tcp?: Duplex): Connection {
    const connection = newConnection(String(++this.#lastConnectionId), phone, tenant, socket, tcp);
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
   * messages through (Replays.replay; never rejects). Call once presence is registered,
   * so that nothing stored meanwhile can be missed.
   */
  replay(connection: Connection): Promise<void> {
    return this.#replays.replay(connection);
  }

  /**
   * Holds a connection's live messages back for a replay again (its presence lapsed, so
   * what was stored meanwhile was routed nowhere): they queue, as on connect, so that
   * none overtakes an older one. Answers whether the caller must run `replay`: not when
   * one is running, which then reads PostgreSQL once more before it ends.
   */
  holdForReplay(connection: Connection): boolean {
    return this.#replays.hold(connection);
  }

  detach(connection: Connection): void {
    const state = this.#phones.get(connection.phone);
    if (!state?.connections.delete(connection)) return;
    this.#connectionCount--;
    this.#deps.metrics.connections.dec();
    this.#slow.remove(connection);
    this.#replays.remove(connection);
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
    this.#pushes.batch(() => {
      for (const item of items) {
        const state = this.#phones.get(item.recipient);
        if (!state) {
          absent.add(item.recipient);
          continue;
        }
        for (const connection of state.connections) this.#replays.live(connection, item);
      }
    });
    return [...absent];
  }

  /**
   * Messages their sender canceled (the api's notice): not awaited, not pushed again.
   * One pushed before stays on the device; its ack is no error.
   */
  cancel(items: readonly CanceledItem[]): void {
    this.#pushes.cancel(items);
  }

  /** Returns the ids this phone was never sent (an error frame for the device). */
  ack(connection: Connection, ids: readonly string[]): readonly string[] {
    return this.#pushes.ack(connection, ids);
  }

  /** The device answered a ping. */
  ponged(connection: Connection): void {
    const c: ConnectionState = connection;
    c.alive = true;
  }

  /**
   * The ping sweep's turn for a connection: drops it if it did not answer the last ping,
   * else pings it and sends it `heartbeat` (frames.ts): a browser answers pings without
   * telling the page, so the heartbeat is what a device can watch for a dead connection.
   */
  ping(connection: Connection, heartbeat: string): void {
    const c: ConnectionState = connection;
    if (!isOpen(c)) return; // closed since the sweep began
    // Not read under back-pressure: its pong could not be seen.
    if (!c.socket.isPaused) {
      if (!c.alive) {
        c.socket.terminate();
        return;
      }
      c.alive = false;
      c.socket.ping();
    }
    // Under back-pressure too: a stall (PostgreSQL down) is no reason for every device to
    // reconnect. Not to a slow reader: nothing is added to what it has not read.
    if (!this.#slow.has(c)) this.#slow.send(c, heartbeat);
  }

  /** Counts a bad frame from the device (frame-budget.ts): answers whether it is within `max` for the current window. */
  countBadFrame(connection: Connection, max: number): boolean {
    return takeBadFrame(connection, max, Date.now());
  }

  /** Past `max` bad frames: nothing it sends is looked at again. */
  overBadFrames(connection: Connection, max: number): boolean {
    return connection.badFrames > max;
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

  /** The status writer is full: stop reading device sockets and pushing until it drains. */
  #stall(): void {
    this.#stalled = true;
    stopReading(this.connections(), this.#deps);
  }

  #unstall(): void {
    this.#stalled = false;
    const connections = this.connections();
    // Their pongs, if any, waited unread behind the pause: not dead peers.
    for (const c of connections) this.ponged(c);
    readAgain(connections, this.#deps);
    void this.#replays.retryOwed();
  }
}
