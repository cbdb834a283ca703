import { AckBatcher } from './ack-batcher.ts';
import { fullJitter } from './backoff.ts';
import { closeAction, TRY_AGAIN_LATER_FAILURES } from './close-codes.ts';
import { resolveOptions, type ConnectDeviceOptions, type DeviceSocket, type ResolvedOptions } from './device-options.ts';
import { remember, type IdState } from './seen-ids.ts';
import { parseServerFrame, type DeviceMessage } from './server-frames.ts';

/** WebSocket.OPEN, which the `ws` package has on the class only. */
const OPEN = 1;
/** How this client closes a connection it gave up on for its silence (the application's range, 4000-4999). */
const SILENT_CLOSE_CODE = 4000;

export interface DeviceConnection {
  /** Acknowledges what was handled, closes the connection and stops reconnecting; handlers not started yet are not called. */
  close(): void;
}

/**
 * Connects a device to the gateway and keeps it connected: reconnects with backoff and
 * full jitter, hands each message id to `onMessage` once across reconnects, one at a
 * time, and acknowledges it once `onMessage` resolves (docs/gateway-protocol.md).
 */
export function connectDevice(options: ConnectDeviceOptions): DeviceConnection {
  const link = new DeviceLink(resolveOptions(options));
  link.connect();
  return { close: () => link.close() };
}

/** The socket of the moment and what belongs to it. */
interface Current {
  socket: DeviceSocket;
  /**
   * Ids pushed on this socket and not acknowledged on it yet: the only ones it may
   * acknowledge. Any other is answered UNKNOWN_MESSAGE, a bad frame the gateway counts.
   */
  unacked: Set<string>;
  acks: AckBatcher;
}

/** Owns the socket, its timers and the handlers' queue; one per connectDevice. */
class DeviceLink {
  readonly #o: ResolvedOptions;
  /** Ids handed to onMessage, across reconnects. */
  readonly #seen = new Map<string, IdState>();
  #current: Current | undefined;
  /** Attempts since the last connection that got its backlog through. */
  #failures = 0;
  #silenceLimitMs: number;
  #silenceTimer: ReturnType<typeof setTimeout> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Handlers run one at a time, in the order the gateway pushed: it pushes highest
   * priority first then oldest first, and an app that shows or stores them in turn keeps
   * that order. A backlog of 10,000 at ~1 ms a handler takes ~10 s.
   */
  #handlers: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: ResolvedOptions) {
    this.#o = options;
    this.#silenceLimitMs = options.silenceMs;
  }

  connect(): void {
    this.#connect().catch((error: unknown) => this.#rethrowLater(error));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    const current = this.#current;
    if (current) {
      current.acks.flush();
      this.#release(current);
      current.socket.close(1000, 'closed by the app');
    }
    this.#o.onStatus?.({ state: 'stopped', code: 1000, reason: 'closed by the app' });
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    this.#o.onStatus?.({ state: 'connecting', attempt: this.#failures + 1 });
    let token: string;
    try {
      token = typeof this.#o.token === 'function' ? await this.#o.token() : this.#o.token;
    } catch (error) {
      this.#o.onError?.({ kind: 'token', error });
      this.#retry(1006, 'no token');
      return;
    }
    if (this.#closed) return;
    const url = new URL(this.#o.url);
    // A browser cannot set the Authorization header on a WebSocket: the gateway takes this.
    url.searchParams.set('access_token', token);
    const socket = new this.#o.WebSocket(url.href);
    const current: Current = {
      socket,
      unacked: new Set(),
      acks: new AckBatcher((frame) => {
        if (socket.readyState === OPEN) socket.send(frame);
      }, this.#o.ackDelayMs),
    };
    this.#current = current;
    // Also while connecting: an upgrade that a stopped gateway never answers waits as long.
    this.#watchSilence(current);
    socket.addEventListener('open', () => {
      if (this.#current !== current) return;
      this.#watchSilence(current);
      this.#o.onStatus?.({ state: 'open' });
    });
    socket.addEventListener('message', (event) => {
      if (this.#current === current) this.#onFrame(current, event.data);
    });
    // An 'error' is always followed by a 'close', which decides what comes next.
    socket.addEventListener('close', (event) => {
      if (this.#current === current) this.#onClose(current, event.code, event.reason);
    });
  }

  #onFrame(current: Current, data: unknown): void {
    this.#watchSilence(current);
    const frame = parseServerFrame(data);
    switch (frame.type) {
      case 'message':
        return this.#onMessage(current, frame.message);
      case 'replayed': {
        // The connection got its backlog through: a healthy one. The next wait starts over.
        this.#failures = 0;
        const onReplayed = this.#o.onReplayed;
        if (onReplayed) this.#enqueue(async () => onReplayed());
        return;
      }
      case 'heartbeat':
        // The next comes within 1.5 intervals (the gateway spreads its pings over half of
        // one); twice the interval leaves half an interval of margin.
        this.#silenceLimitMs = 2 * frame.intervalMs;
        this.#watchSilence(current);
        return;
      case 'error':
        this.#o.onError?.({ kind: 'frame', code: frame.code, message: frame.message });
        return;
      case 'invalid':
        this.#o.onError?.({ kind: 'protocol', message: frame.problem });
        return;
      case 'other':
        return;
    }
  }

  #onMessage(current: Current, message: DeviceMessage): void {
    const { id } = message;
    current.unacked.add(id);
    const state = this.#seen.get(id);
    // A duplicate of a handled one (its ack was lost with a connection, or came after the
    // gateway's ack timeout): acknowledged again, never handed again.
    if (state === 'handled') return this.#ack(id);
    // Still being handled: acknowledged on this connection when its handler resolves.
    if (state === 'handling') return;
    remember(this.#seen, id, 'handling', this.#o.rememberIds);
    this.#enqueue(async () => {
      try {
        await this.#o.onMessage(message);
      } catch (error) {
        // Not acknowledged: the gateway pushes it again after its ack timeout (30 s), and
        // it is handed to onMessage again then.
        this.#seen.delete(id);
        this.#o.onError?.({ kind: 'handler', id, error });
        return;
      }
      remember(this.#seen, id, 'handled', this.#o.rememberIds);
      this.#ack(id);
    });
  }

  /** On the current connection if it was pushed `id`; if not, its replay pushes it, and it is acknowledged then. */
  #ack(id: string): void {
    const current = this.#current;
    if (current?.unacked.delete(id)) current.acks.add(id);
  }

  #enqueue(task: () => Promise<void>): void {
    this.#handlers = this.#handlers.then(() => (this.#closed ? undefined : task())).catch((error: unknown) => this.#rethrowLater(error));
  }

  /** An app callback (onError, onReplayed, onStatus) threw: reported as uncaught, as an event listener's would be, and the queue goes on. */
  #rethrowLater(error: unknown): void {
    setTimeout(() => {
      throw error;
    });
  }

  #watchSilence(current: Current): void {
    clearTimeout(this.#silenceTimer);
    this.#silenceTimer = setTimeout(() => {
      // A dead network path delivers no close either, and the closing handshake would
      // wait as long: the socket is left behind and a new one connects.
      const reason = `no frame for ${this.#silenceLimitMs} ms`;
      current.socket.close(SILENT_CLOSE_CODE, reason);
      this.#onClose(current, 1006, reason);
    }, this.#silenceLimitMs);
  }

  #release(current: Current): void {
    current.acks.close();
    clearTimeout(this.#silenceTimer);
    if (this.#current === current) this.#current = undefined;
  }

  #onClose(current: Current, code: number, reason: string): void {
    this.#release(current);
    if (this.#closed) return;
    const action = closeAction(code);
    if (action === 'stop') {
      this.#closed = true;
      this.#o.onStatus?.({ state: 'stopped', code, reason });
      return;
    }
    if (action === 'back off') this.#failures = Math.max(this.#failures, TRY_AGAIN_LATER_FAILURES);
    this.#retry(code, reason);
  }

  #retry(code: number, reason: string): void {
    const inMs = fullJitter(this.#failures, this.#o.backoff);
    this.#failures++;
    this.#o.onStatus?.({ state: 'reconnecting', code, reason, inMs });
    this.#retryTimer = setTimeout(() => this.connect(), inMs);
  }
}
