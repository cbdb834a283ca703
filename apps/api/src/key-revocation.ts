import { keyEventsAfter, lastKeyEventSeq, type KeyEvent } from '@esh3ar/db';
import { keyEventsChannel, parseKeyEventNotice, subscriberFor, type RedisClient } from '@esh3ar/queue';
import type { FastifyBaseLogger } from 'fastify';
import type pg from 'pg';
import type { KeyCache } from './key-cache.ts';

export interface RevocationOptions {
  /** The request connection: the listener subscribes on a duplicate of it (a subscribed connection can do nothing else). */
  redis: RedisClient;
  pool: pg.Pool;
  prefix: string;
  cache: Pick<KeyCache, 'forgetKey' | 'forgetTenant' | 'forgetAll'>;
  logger: FastifyBaseLogger;
  /**
   * How often api_key_events is read anyway. docs/operations.md gives a revocation 2 s to reach
   * every process; a notification takes milliseconds, and one that is lost (the subscriber
   * reconnecting, Redis refusing the revoking process) is caught by the next read: 1 s,
   * one indexed query returning no row per process and second.
   */
  pollMs?: number;
}

const POLL_MS = 1000;
const PAGE = 1000;

/**
 * Makes an api process forget the keys that were revoked and the tenants that were
 * disabled or enabled: at once on the Redis notification (which carries what changed, so
 * it works while PostgreSQL is down), and from PostgreSQL's gap-free api_key_events log
 * every second for whatever a notification missed. When the subscriber reconnects and the
 * log cannot be read, every verified key is forgotten: with PostgreSQL down too, a
 * revocation announced meanwhile could not be seen any other way.
 */
export class KeyRevocationListener {
  readonly #options: RevocationOptions;
  readonly #subscriber: RedisClient;
  /** The newest api_key_events seq applied; null until the log has been read once. */
  #seq: number | null = null;
  #reads: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #failing = false;
  #closed = false;

  private constructor(options: RevocationOptions) {
    this.#options = options;
    // Subscribed for the life of the process: queue the SUBSCRIBE until Redis answers, and resubscribe after a reconnect.
    this.#subscriber = subscriberFor(options.redis, 'esh3ar-api-key-events');
  }

  /** Subscribes and starts reading the log; neither waits for Redis or PostgreSQL to answer. */
  static start(options: RevocationOptions): KeyRevocationListener {
    const listener = new KeyRevocationListener(options);
    listener.#listen();
    listener.#tick();
    return listener;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#reads;
    await this.#subscriber.quit().catch(() => this.#subscriber.disconnect());
  }

  #apply(event: Pick<KeyEvent, 'tenantId' | 'keyId'>): void {
    if (event.keyId === null) this.#options.cache.forgetTenant(event.tenantId);
    else this.#options.cache.forgetKey(event.keyId);
  }

  #listen(): void {
    const { logger, prefix, cache } = this.#options;
    this.#subscriber.on('message', (_channel: string, message: string) => {
      const notice = parseKeyEventNotice(message);
      if (notice === null) logger.warn('unreadable API key notification ignored; the log is read within a second');
      else this.#apply(notice);
    });
    // (Re)connected: notifications sent while the subscriber was away are lost. Reading the
    // log finds them; if it cannot be read, nothing verified before can be trusted.
    this.#subscriber.on('ready', () => {
      this.#read().catch(() => {
        logger.warn('API key notifications may have been missed and PostgreSQL is unreachable: every cached key is checked again');
        cache.forgetAll();
      });
    });
    this.#subscriber.on('error', (error: Error) => logger.debug({ err: error }, 'API key notification connection error'));
    this.#subscriber.subscribe(keyEventsChannel(prefix)).catch((error: Error) => {
      if (!this.#closed)
        logger.warn({ err: error }, 'API key notifications unavailable; revocations apply by reading PostgreSQL every second');
    });
  }

  #tick(): void {
    this.#read()
      .then(
        () => {
          if (this.#failing) this.#options.logger.info('API key revocations readable again');
          this.#failing = false;
        },
        (error: unknown) => {
          if (!this.#failing) this.#options.logger.warn({ err: error }, 'API key revocations not read; retrying every second');
          this.#failing = true;
        },
      )
      .finally(() => {
        if (this.#closed) return;
        this.#timer = setTimeout(() => this.#tick(), this.#options.pollMs ?? POLL_MS);
        this.#timer.unref();
      });
  }

  /** One read of the log after the reads already asked for; rejects when PostgreSQL does. */
  #read(): Promise<void> {
    const read = this.#reads.then(() => this.#readLog());
    this.#reads = read.catch(() => undefined);
    return read;
  }

  async #readLog(): Promise<void> {
    if (this.#closed) return;
    const { pool, cache, logger } = this.#options;
    if (this.#seq === null) {
      // The first read: keys verified before it could predate a change the log already holds.
      this.#seq = await lastKeyEventSeq(pool);
      cache.forgetAll();
      return;
    }
    for (;;) {
      const events = await keyEventsAfter(pool, this.#seq, PAGE);
      if (events.length > 0 && events[0]!.seq !== this.#seq + 1) {
        // Only a hand-deleted row makes a gap: what it held is unknown.
        logger.warn({ after: this.#seq, next: events[0]!.seq }, 'gap in api_key_events: every cached key is checked again');
        cache.forgetAll();
      }
      for (const event of events) this.#apply(event);
      if (events.length > 0) this.#seq = events.at(-1)!.seq;
      if (events.length < PAGE) return;
    }
  }
}
