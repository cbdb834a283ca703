import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { createPool } from '@esh3ar/db';
import { createRedis } from '@esh3ar/queue';
import {
  changeRuntimeConfig,
  patchAt,
  readRuntimeConfig,
  rollbackRuntimeConfig,
  runtimeConfigVersions,
  type ConfigChange,
  type ConfigStore,
} from '@esh3ar/runtime';
import type { Logger } from 'pino';
import type { CliConfig } from './config.ts';
import { UsageError } from './usage-error.ts';

/** VALUE as JSON when it parses (100, 0.5, true, {"rpm": 50}), else as the string it is. */
function parseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function options(args: string[], spec: Record<string, { type: 'string' }>) {
  try {
    return parseArgs({ args, options: spec, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function versionArg(text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text)) throw new UsageError('config rollback needs a VERSION (an integer ≥ 0)');
  return Number(text);
}

/** The same merge, checks and storage as PUT /v1/admin/config: one implementation, in @esh3ar/runtime. */
async function withStore<T>(config: CliConfig, logger: Logger, work: (store: ConfigStore) => Promise<T>): Promise<T> {
  const pool = createPool(config.postgres.url, { max: 1, applicationName: 'esh3ar-cli' });
  const redis = createRedis(config.redis.url, { name: 'esh3ar-cli', failFast: true });
  // Redis unreachable only costs the notification: reported once, through `notified`.
  redis.on('error', (error) => logger.debug({ err: error }, 'redis connection error'));
  try {
    await redis.connect().catch((error: Error) => logger.debug({ err: error }, 'redis unreachable'));
    return await work({ pool, redis, prefix: config.redis.prefix, base: config.runtime });
  } finally {
    redis.disconnect();
    await pool.end();
  }
}

function printed(change: ConfigChange, logger: Logger): string {
  if (!change.notified)
    logger.warn({ version: change.version }, 'Redis unreachable: processes apply this version when they next poll PostgreSQL (~1 s)');
  return JSON.stringify({ version: change.version, config: change.config });
}

/** `config get | set KEY VALUE | history [--limit N] | rollback VERSION`. */
export async function runConfig(config: CliConfig, logger: Logger, sub: string | undefined, args: string[]): Promise<string> {
  const changedBy = `cli:${userInfo().username}`;
  switch (sub) {
    case 'get': {
      if (args.length > 0) throw new UsageError('config get takes no argument');
      return JSON.stringify(await withStore(config, logger, (store) => readRuntimeConfig(store)));
    }
    case 'set': {
      // Taken as they are, not through parseArgs: VALUE may be "-1" and must reach the checks.
      const [key, value, ...extra] = args;
      if (key === undefined || value === undefined || extra.length > 0)
        throw new UsageError('config set needs KEY VALUE, e.g. config set buffer.capacity 20000');
      if (!/^[^.]+(\.[^.]+)*$/.test(key)) throw new UsageError(`KEY must be a dotted path like buffer.capacity, got "${key}"`);
      const patch = patchAt(key, parseValue(value));
      return printed(await withStore(config, logger, (store) => changeRuntimeConfig(store, patch, changedBy)), logger);
    }
    case 'history': {
      const { values } = options(args, { limit: { type: 'string' } });
      const limit = values.limit === undefined ? 100 : Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError('--limit must be an integer from 1 to 1000');
      return JSON.stringify({ items: await withStore(config, logger, (store) => runtimeConfigVersions(store, limit)) });
    }
    case 'rollback': {
      const [text, ...extra] = args;
      if (extra.length > 0) throw new UsageError('config rollback takes one VERSION');
      const version = versionArg(text);
      return printed(await withStore(config, logger, (store) => rollbackRuntimeConfig(store, version, changedBy)), logger);
    }
    default:
      throw new UsageError(`unknown config command "${sub ?? ''}"`);
  }
}
