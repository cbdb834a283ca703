import { allQuietHours, type QuietHours } from '@esh3ar/db';
import type pg from 'pg';
import type { Logger } from 'pino';

// A tenant's new quiet hours apply within 2 s: one indexed read of a table with a row per
// tenant that has them, against a decision for every message stored or released.
const REFRESH_MS = 2000;

/**
 * Every tenant's quiet hours, read from PostgreSQL every `refreshMs`, so that storing and
 * releasing a batch asks memory, not the database, once per message. A failed read keeps the
 * last good copy (logged once per outage): quiet hours change seldom, and a message must not
 * wait for PostgreSQL to be asked again.
 */
export class QuietHoursCache {
  #byTenant = new Map<string, QuietHours>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #failing = false;
  #closing = false;
  readonly #pool: pg.Pool;
  readonly #logger: Logger;
  readonly #refreshMs: number;

  constructor(pool: pg.Pool, logger: Logger, refreshMs = REFRESH_MS) {
    this.#pool = pool;
    this.#logger = logger;
    this.#refreshMs = refreshMs;
  }

  /** Reads them now, then every refreshMs; resolves after the first read, failed or not. */
  async start(): Promise<void> {
    this.#running = this.refresh();
    await this.#running;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closing) return;
    this.#timer = setTimeout(() => {
      this.#running = this.refresh().finally(() => this.#schedule());
    }, this.#refreshMs);
    this.#timer.unref();
  }

  /** One read; a failure keeps the copy in hand. */
  async refresh(): Promise<void> {
    try {
      const all = await allQuietHours(this.#pool);
      this.#byTenant = new Map(all.map((q) => [q.tenantId, q]));
      if (this.#failing) this.#logger.info({ tenants: all.length }, 'quiet hours read again');
      this.#failing = false;
    } catch (error) {
      // Once per outage, not every refreshMs while PostgreSQL is down.
      if (!this.#failing) this.#logger.warn({ err: error }, 'quiet hours not read; keeping the last copy, retrying');
      this.#failing = true;
    }
  }

  /** The tenant's quiet hours; undefined when it has none (or they were never read). */
  get(tenantId: string): QuietHours | undefined {
    return this.#byTenant.get(tenantId);
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
