import { deepFreeze } from '@esh3ar/config';
import { createRedis, type RedisClient, type RedisTarget } from '@esh3ar/queue';
import type pg from 'pg';
import type { Logger } from 'pino';
import { configChannel } from './change.ts';
import { effectiveDocument, validDocument } from './document.ts';
import type { RuntimeConfig } from './schema.ts';
import { latestRuntimeConfig, type RuntimeConfigVersion } from './versions.ts';

export interface AppliedConfig {
  /** -1 until PostgreSQL has been read once (the process runs on its base meanwhile). */
  version: number;
  config: RuntimeConfig;
  changedBy: string;
  changedAt: Date | null;
}

export interface WatcherOptions {
  pool: pg.Pool;
  /** The watcher opens its own subscriber connection there (a subscribed connection can do nothing else). */
  redis: RedisTarget;
  prefix: string;
  /** Version 0 for this process: the built-in defaults with its environment. */
  base: RuntimeConfig;
  logger: Logger;
  /**
   * How often PostgreSQL is re-read anyway, so that a missed notification (Redis
   * restarting, a subscriber reconnecting) still converges: 1 s keeps the contract's
   * "applied within 2 s" with one query a second per process.
   */
  pollMs?: number;
  /** Called with every version applied, the first one read included. */
  onChange?: (applied: AppliedConfig) => void;
  connectionName?: string;
}

const DEFAULT_POLL_MS = 1000;

/**
 * The runtime configuration a process runs on, kept current without a restart:
 * a Redis notification on `<prefix>:config` makes it re-read the newest version from
 * PostgreSQL at once, and it re-reads every `pollMs` regardless. PostgreSQL is the
 * truth; the notification only says "look now".
 */
export class RuntimeConfigWatcher {
  #applied: AppliedConfig;
  readonly #options: WatcherOptions;
  readonly #subscriber: RedisClient;
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #again = false;
  #failing = false;
  #refused = -1;
  #closed = false;

  private constructor(options: WatcherOptions) {
    this.#options = options;
    this.#applied = { version: -1, config: options.base, changedBy: 'environment', changedAt: null };
    // Subscribed for the life of the process: keep reconnecting, and resubscribe. On a
    // Cluster a plain PUBLISH reaches every node, so one subscription on any node hears it.
    this.#subscriber = createRedis(options.redis, { name: options.connectionName ?? 'esh3ar-config-watcher', failFast: false });
  }

  /** Subscribes, reads the newest version (a PostgreSQL outage leaves the base in force), and starts polling. */
  static async start(options: WatcherOptions): Promise<RuntimeConfigWatcher> {
    const watcher = new RuntimeConfigWatcher(options);
    watcher.#listen();
    await watcher.refresh();
    watcher.#schedule();
    return watcher;
  }

  current(): RuntimeConfig {
    return this.#applied.config;
  }

  get version(): number {
    return this.#applied.version;
  }

  /** Re-reads PostgreSQL now; a call during a read makes that read run once more after it. */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#refreshing) {
      this.#again = true;
      return this.#refreshing;
    }
    const loop = async () => {
      do {
        this.#again = false;
        await this.#readOnce();
      } while (this.#again && !this.#closed);
    };
    this.#refreshing = loop().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#refreshing;
    await this.#subscriber.quit().catch(() => this.#subscriber.disconnect());
  }

  #listen(): void {
    const { logger, prefix } = this.#options;
    this.#subscriber.on('message', () => void this.refresh());
    // Reconnected: notifications sent meanwhile are lost, so look now.
    this.#subscriber.on('ready', () => void this.refresh());
    this.#subscriber.on('error', (error: Error) => logger.debug({ err: error }, 'config subscriber connection error'));
    this.#subscriber.subscribe(configChannel(prefix)).catch((error: Error) => {
      if (!this.#closed) logger.warn({ err: error }, 'config notifications unavailable; changes apply by polling');
    });
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      void this.refresh().finally(() => this.#schedule());
    }, this.#options.pollMs ?? DEFAULT_POLL_MS);
    this.#timer.unref();
  }

  async #readOnce(): Promise<void> {
    const { logger, pool } = this.#options;
    let latest: RuntimeConfigVersion;
    try {
      latest = await latestRuntimeConfig(pool);
    } catch (error) {
      if (!this.#failing)
        logger.warn({ err: error, version: this.#applied.version }, 'runtime configuration not read; keeping the one in force');
      this.#failing = true;
      return;
    }
    if (this.#failing) logger.info('runtime configuration readable again');
    this.#failing = false;
    if (latest.version === this.#applied.version) return;
    let config: RuntimeConfig;
    try {
      config = validDocument(effectiveDocument(latest.config, this.#options.base));
    } catch (error) {
      // Only a schema change since the version was stored can get here: every write is checked.
      if (this.#refused !== latest.version)
        logger.error(
          { err: error, version: latest.version },
          'stored runtime configuration does not fit this process; keeping the one in force',
        );
      this.#refused = latest.version;
      return;
    }
    this.#applied = { version: latest.version, config: deepFreeze(config), changedBy: latest.changedBy, changedAt: latest.changedAt };
    logger.info({ version: latest.version, changedBy: latest.changedBy, changedAt: latest.changedAt }, 'runtime configuration applied');
    try {
      this.#options.onChange?.(this.#applied);
    } catch (error) {
      // The version is in force either way; a failing observer (a metric) must not stop the watching.
      logger.error({ err: error, version: latest.version }, 'runtime configuration onChange failed');
    }
  }
}
