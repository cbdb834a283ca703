import { markDelivered, markSent, type Ack } from '@esh3ar/db';
import type pg from 'pg';
import type { Logger } from 'pino';

/**
 * Writes `sent` and `delivered` in batches: one UPDATE per flush, not one per ack
 * (at 10k acks/s a statement each would saturate PostgreSQL's connections). Failed
 * writes are kept and tried again at the next flush.
 */
export class StatusWriter {
  #sent: string[] = [];
  #acks: Ack[] = [];
  #timer: NodeJS.Timeout;
  #flushing: Promise<void> = Promise.resolve();
  readonly #pool: pg.Pool;
  readonly #logger: Logger;
  readonly #gatewayId: string;

  constructor(pool: pg.Pool, logger: Logger, gatewayId: string, flushMs: number) {
    this.#pool = pool;
    this.#logger = logger;
    this.#gatewayId = gatewayId;
    this.#timer = setInterval(() => void this.flush(), flushMs);
    this.#timer.unref();
  }

  sent(id: string): void {
    this.#sent.push(id);
  }

  delivered(ack: Ack): void {
    this.#acks.push(ack);
  }

  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#write());
    return this.#flushing;
  }

  async #write(): Promise<void> {
    const sent = this.#sent;
    const acks = this.#acks;
    if (sent.length === 0 && acks.length === 0) return;
    this.#sent = [];
    this.#acks = [];
    try {
      // Acks first: a message pushed and acknowledged within one flush goes straight to delivered.
      await markDelivered(this.#pool, acks);
      await markSent(this.#pool, sent, `pushed by gateway ${this.#gatewayId}`);
    } catch (error) {
      this.#logger.warn({ err: error, sent: sent.length, acks: acks.length }, 'status writes failed; retrying at the next flush');
      this.#sent.unshift(...sent);
      this.#acks.unshift(...acks);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
