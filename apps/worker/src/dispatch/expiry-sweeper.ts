import { expireDue } from '@esh3ar/db';
import type pg from 'pg';
import type { Logger } from 'pino';

/**
 * Marks messages whose TTL passed before an ack as `expired`, every `intervalMs`: pending
 * ones, and app messages pushed to a device that never acknowledged them; never one handed
 * to a provider, nor one whose provider call is in progress (sql/expire-due.sql). Several
 * workers may sweep at once: FOR UPDATE SKIP LOCKED splits the work.
 */
export class ExpirySweeper {
  #timer: NodeJS.Timeout;
  #running: Promise<void> = Promise.resolve();

  constructor(pool: pg.Pool, logger: Logger, intervalMs: number, onExpired: (count: number) => void) {
    this.#timer = setInterval(() => {
      this.#running = expireDue(pool, 5000).then(
        (ids) => {
          if (ids.length > 0) {
            onExpired(ids.length);
            logger.info({ expired: ids.length }, 'messages expired');
          }
        },
        (error: Error) => logger.warn({ err: error }, 'expiry sweep failed; next sweep retries'),
      );
    }, intervalMs);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }
}
