import type { Duplex } from 'node:stream';
import type { GatewayMetrics } from '@esh3ar/observability';
import type { Logger } from 'pino';
import { isOpen, type Connection } from './connection.ts';

/** A connection holding more than `maxBufferedBytes` unread. */
interface SlowReader {
  /** Closes it if its socket has not drained by then. */
  timer: NodeJS.Timeout;
  /** Something was not pushed to it meanwhile: it replays once its socket drains. */
  owed: boolean;
}

export interface SlowReadersOptions {
  metrics: GatewayMetrics;
  logger: Logger;
  maxBufferedBytes: number;
  closeAfterMs: number;
  /** Its socket drained while it was owed a replay (still open). */
  onDrainedOwed: (connection: Connection) => void;
}

/**
 * Slow readers: a push that takes a connection's unread bytes (ws's bufferedAmount, what
 * its socket has not handed to the kernel yet) to `maxBufferedBytes` is the last one it
 * gets until that push is written out, i.e. until the socket drains; then it replays
 * what it missed from PostgreSQL (a re-push due meanwhile comes round again at the next
 * re-push tick). So a device that does not read holds at most that much, plus one
 * frame, of this gateway's memory; one that has not drained within `closeAfterMs` is
 * closed with 1013 (try again later) and replays wherever it reconnects. Its socket is
 * still read: its acks are what lets the gateway forget what it was sent, and its frames
 * cost no more than any device's (bad ones are limited, frame-budget.ts); and a paused
 * socket would hide its pongs from the ping sweep.
 */
export class SlowReaders {
  readonly #slow = new Map<Connection, SlowReader>();
  readonly #options: SlowReadersOptions;
  /** While a batch runs: the TCP sockets it corked, uncorked at its end. */
  #corked: Duplex[] | undefined;

  constructor(options: SlowReadersOptions) {
    this.#options = options;
  }

  /** Over its unread-bytes threshold: nothing is pushed to it, and error frames are not sent either. */
  has(connection: Connection): boolean {
    return this.#slow.has(connection);
  }

  /** A replay is owed to it once its socket drains; answers false if it is not slow. */
  owe(connection: Connection): boolean {
    const slow = this.#slow.get(connection);
    if (slow === undefined) return false;
    slow.owed = true;
    return true;
  }

  /**
   * Runs `write`, the frames it sends each connection held back (cork) until it returns,
   * so that they leave in one write (a writev) rather than one each: a replay page, or
   * the messages of one delivery batch for one phone. Still one WebSocket frame per
   * message on the wire. Pages of 500 frames to one socket took 1.1–1.2 µs of CPU a frame
   * corked against 5.9–7.1 µs written one by one (ws over loopback, 200 pages). A batch
   * within a batch is part of it.
   */
  batch(write: () => void): void {
    if (this.#corked !== undefined) return write();
    const corked: Duplex[] = (this.#corked = []);
    try {
      write();
    } finally {
      this.#corked = undefined;
      for (const tcp of corked) tcp.uncork();
    }
  }

  /** Sends a frame; the one that takes its unread bytes to the threshold makes it slow. */
  send(connection: Connection, frame: string): void {
    const bytes = Buffer.byteLength(frame);
    const max = this.#options.maxBufferedBytes;
    const tcp = connection.tcp;
    if (this.#corked !== undefined && tcp !== undefined) {
      // ws corks and uncorks around each frame it writes: 0 here unless this batch corked it.
      if (tcp.writableCorked === 0) {
        tcp.cork();
        this.#corked.push(tcp);
      } else if (connection.socket.bufferedAmount + bytes >= max) {
        // What the batch holds back counts in bufferedAmount too: written out now (an uncork
        // writes at once what the kernel takes), so that only what the device has not read
        // makes it slow, as without the batch.
        tcp.uncork();
        tcp.cork();
      }
    }
    if (connection.socket.bufferedAmount + bytes < max) {
      connection.socket.send(frame);
    } else {
      // Called once this frame, the last queued, is written out: the socket has drained.
      connection.socket.send(frame, () => this.#drained(connection));
      this.#slowDown(connection);
    }
  }

  /** The connection is gone. */
  remove(connection: Connection): void {
    const slow = this.#slow.get(connection);
    if (slow === undefined) return;
    clearTimeout(slow.timer);
    this.#slow.delete(connection);
    this.#options.metrics.slowReaders.set(this.#slow.size);
  }

  close(): void {
    for (const slow of this.#slow.values()) clearTimeout(slow.timer);
  }

  #slowDown(connection: Connection): void {
    const timer = setTimeout(() => this.#closeSlow(connection), this.#options.closeAfterMs);
    timer.unref();
    this.#slow.set(connection, { timer, owed: false });
    this.#options.metrics.slowReaderPauses.inc();
    this.#options.metrics.slowReaders.set(this.#slow.size);
    this.#options.logger.debug(
      { connectionId: connection.id, unreadBytes: connection.socket.bufferedAmount },
      'device not reading its pushes: none until its socket drains',
    );
  }

  #drained(connection: Connection): void {
    const slow = this.#slow.get(connection);
    if (slow === undefined) return;
    clearTimeout(slow.timer);
    this.#slow.delete(connection);
    this.#options.metrics.slowReaders.set(this.#slow.size);
    this.#options.logger.debug({ connectionId: connection.id, owed: slow.owed }, 'device socket drained: pushing again');
    if (slow.owed && isOpen(connection)) this.#options.onDrainedOwed(connection);
  }

  /** Kept among the slow until it is gone (remove): nothing more is pushed to it. */
  #closeSlow(connection: Connection): void {
    if (!this.#slow.has(connection) || !isOpen(connection)) return;
    this.#options.metrics.slowReaderCloses.inc();
    this.#options.logger.info(
      { connectionId: connection.id, unreadBytes: connection.socket.bufferedAmount, afterMs: this.#options.closeAfterMs },
      'closing a device that did not read its pushes in time (1013); it replays where it reconnects',
    );
    // The close frame waits behind the unread bytes; ws destroys the socket if the device
    // has not answered it within its closeTimeout (30 s).
    connection.socket.close(1013, 'not reading fast enough, reconnect');
  }
}
