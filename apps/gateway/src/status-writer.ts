import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { markDelivered, markSent, type Ack } from '@esh3ar/db';
import type { GatewayMetrics } from '@esh3ar/observability';
import type pg from 'pg';
import type { Logger } from 'pino';

/**
 * Rows per UPDATE. mark-delivered over 300,000 pending rows here: 1,000 a statement
 * wrote ~42,000 acks/s, 2,000–5,000 ~50,000/s, 10,000–100,000 35,000–40,000/s; 5,000
 * takes 0.1–0.16 s. One statement for a whole outage's backlog grows with it (100,000:
 * 2.8 s) until it passes the gateway's 10 s statement_timeout, and then fails every time.
 */
const CHUNK = 5000;

export interface StatusWriterOptions {
  flushMs: number;
  /** Statuses held at most before the writer is `full` (config.ts: statusWrites.maxPending). */
  maxPending: number;
}

interface StatusWriterEvents {
  /** `maxPending` statuses are held: the caller stops taking more (back-pressure). */
  full: [];
  /** Down to half of `maxPending` again after `full`. */
  drain: [];
}

/**
 * Writes `sent` and `delivered` in batches: one UPDATE per chunk of at most CHUNK, not
 * one per ack (at 10k acks/s a statement each would saturate PostgreSQL's connections).
 * What PostgreSQL does not take stays, in order, and is tried again at the next flush;
 * nothing taken is dropped. The statuses are held in chunks, so that none is ever
 * spread into a call: putting a failed batch back with `unshift(...acks)` threw
 * RangeError past ~125,000 acks, and from then on nothing was written at all.
 *
 * Memory is bounded by the caller: at `maxPending` the writer says `full` and the caller
 * stops feeding it (device-hub.ts) until `drain`. Half, not the cap itself, for the
 * drain: a stall then lets ~100,000 acks in before the next, rather than pausing and
 * resuming every socket for each chunk written.
 */
export class StatusWriter extends EventEmitter<StatusWriterEvents> {
  // Oldest first; acks apart from sent marks, so that acks can go first.
  readonly #acks: Ack[][] = [];
  readonly #sent: string[][] = [];
  #pendingAcks = 0;
  #pendingSent = 0;
  #full = false;
  #failing = false;
  #writing: Promise<void> | undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #pool: pg.Pool;
  readonly #logger: Logger;
  readonly #metrics: GatewayMetrics;
  readonly #gatewayId: string;
  readonly #options: StatusWriterOptions;

  constructor(pool: pg.Pool, logger: Logger, metrics: GatewayMetrics, gatewayId: string, options: StatusWriterOptions) {
    super();
    this.#pool = pool;
    this.#logger = logger;
    this.#metrics = metrics;
    this.#gatewayId = gatewayId;
    this.#options = options;
    this.#timer = setInterval(() => {
      if (this.#writing === undefined) void this.flush();
    }, options.flushMs);
    this.#timer.unref();
  }

  /** Statuses taken and not yet written. */
  get pending(): number {
    return this.#pendingAcks + this.#pendingSent;
  }

  /** At the cap: no more should be given until `drain`. */
  get full(): boolean {
    return this.#full;
  }

  /** The last write failed: PostgreSQL did not take it (for /health/ready). */
  get failing(): boolean {
    return this.#failing;
  }

  sent(id: string): void {
    append(this.#sent, id);
    this.#pendingSent++;
    this.#checkFull();
  }

  delivered(ack: Ack): void {
    append(this.#acks, ack);
    this.#pendingAcks++;
    this.#checkFull();
  }

  /** Writes what is held, a chunk at a time, until it is all written or PostgreSQL fails. Never rejects. */
  flush(): Promise<void> {
    this.#writing ??= this.#write().finally(() => {
      this.#writing = undefined;
    });
    return this.#writing;
  }

  /**
   * Stops the timer and writes what is held, trying again for up to `waitMs` while
   * PostgreSQL does not take it (a restart of PostgreSQL during a deploy).
   */
  async close(waitMs = 5000): Promise<void> {
    clearInterval(this.#timer);
    const deadline = Date.now() + waitMs;
    await this.flush();
    while (this.pending > 0 && Date.now() < deadline) {
      await sleep(this.#options.flushMs);
      await this.flush();
    }
    if (this.pending > 0) {
      this.#logger.error(
        { acks: this.#pendingAcks, sent: this.#pendingSent },
        'statuses not written before exit: those messages stay pending/sent and are replayed wherever their phone connects',
      );
    }
  }

  #checkFull(): void {
    if (this.#full || this.pending < this.#options.maxPending) return;
    this.#full = true;
    this.emit('full');
  }

  async #write(): Promise<void> {
    let written = 0;
    // Moved to delivered by this write: their sent marks would match no row (pending only), so
    // they are not sent. A device acks within milliseconds of the push, mostly before the next
    // flush: the sent statement then goes with nothing or little in it, and it cost the gateway
    // 1.2 µs of CPU per id (0.24 ms for 200) of the ~70 µs a delivery took (bench/gateway/per-delivery.ts).
    const delivered = new Set<string>();
    try {
      // Acks first: a message pushed and acknowledged before its sent mark is written goes straight to delivered.
      while (this.#acks.length > 0 || this.#sent.length > 0) {
        if (this.#acks.length > 0) {
          const chunk = this.#acks.shift()!;
          const moved = await markDelivered(this.#pool, chunk).catch((error: unknown) => {
            this.#acks.unshift(chunk);
            throw error;
          });
          if (this.#sent.length > 0) for (const id of moved) delivered.add(id);
          this.#pendingAcks -= chunk.length;
          written += chunk.length;
        } else {
          const chunk = this.#sent.shift()!;
          const marks = delivered.size === 0 ? chunk : chunk.filter((id) => !delivered.has(id));
          this.#pendingSent -= chunk.length - marks.length;
          if (marks.length > 0) {
            await markSent(this.#pool, marks, `pushed by gateway ${this.#gatewayId}`).catch((error: unknown) => {
              this.#sent.unshift(marks);
              throw error;
            });
          }
          this.#pendingSent -= marks.length;
          written += chunk.length;
        }
        this.#count();
        if (this.#full && this.pending <= this.#options.maxPending / 2) {
          this.#full = false;
          this.emit('drain');
        }
      }
      if (this.#failing) this.#logger.info({ written }, 'status writes taken by PostgreSQL again');
      this.#failing = false;
    } catch (error) {
      this.#metrics.statusWriteFailures.inc();
      this.#count();
      // Once per outage, not every flushMs; the counter counts each.
      if (!this.#failing) {
        this.#logger.warn(
          { err: error, acks: this.#pendingAcks, sent: this.#pendingSent },
          'status writes failed; kept, and tried again every flush',
        );
      }
      this.#failing = true;
    }
  }

  #count(): void {
    this.#metrics.statusWritesPending.set({ kind: 'delivered' }, this.#pendingAcks);
    this.#metrics.statusWritesPending.set({ kind: 'sent' }, this.#pendingSent);
  }
}

/** Appends to the newest chunk, or starts one: no chunk grows past CHUNK. */
function append<T>(chunks: T[][], item: T): void {
  const last = chunks.at(-1);
  if (last !== undefined && last.length < CHUNK) last.push(item);
  else chunks.push([item]);
}
