import { recordKeyUsage } from '@esh3ar/db';
import type { FastifyBaseLogger } from 'fastify';
import type pg from 'pg';

/**
 * Every 30 s: api_keys.last_used_at is for an operator deciding which key to revoke,
 * where a minute's precision is plenty, and a write per request would add a PostgreSQL
 * UPDATE to each of 20k requests a second. So each process writes at most one UPDATE
 * every 30 s, for every key used since, whatever the traffic.
 */
const KEY_USAGE_FLUSH_MS = 30_000;

/** When each key was last used, gathered in memory and written in one statement per flush. */
export class KeyUsageRecorder {
  readonly #pool: pg.Pool;
  readonly #logger: FastifyBaseLogger;
  readonly #timer: NodeJS.Timeout;
  #pending = new Map<string, number>();
  #flushing: Promise<void> | undefined;
  #failing = false;

  constructor(pool: pg.Pool, logger: FastifyBaseLogger, flushMs = KEY_USAGE_FLUSH_MS) {
    this.#pool = pool;
    this.#logger = logger;
    this.#timer = setInterval(() => void this.flush(), flushMs).unref();
  }

  /** Key `keyId` was used at `at` (ms): a Map write, nothing else. */
  touch(keyId: string, at: number): void {
    this.#pending.set(keyId, at);
  }

  /** Writes what was gathered; while PostgreSQL fails, keeps it for the next flush. Never rejects. */
  flush(): Promise<void> {
    this.#flushing ??= this.#write().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#flushing;
    await this.flush();
  }

  async #write(): Promise<void> {
    const batch = this.#pending;
    if (batch.size === 0) return;
    this.#pending = new Map();
    try {
      await recordKeyUsage(this.#pool, batch);
      if (this.#failing) this.#logger.info({ keys: batch.size }, 'API key usage written again');
      this.#failing = false;
    } catch (error) {
      for (const [keyId, at] of batch) if ((this.#pending.get(keyId) ?? 0) < at) this.#pending.set(keyId, at);
      if (!this.#failing) this.#logger.warn({ err: error, keys: this.#pending.size }, 'API key usage not written; kept for the next flush');
      this.#failing = true;
    }
  }
}
