import { userInfo } from 'node:os';
import { createPool } from '@esh3ar/db';
import { createRedis } from '@esh3ar/queue';
import {
  changeRuntimeConfig,
  patchAt,
  readRuntimeConfig,
  rollbackRuntimeConfig,
  runtimeConfigVersions,
  type ConfigChange,
  type ConfigHistoryItem,
  type ConfigStore,
} from '@esh3ar/runtime';
import { Command } from 'commander';
import type { Logger } from 'pino';
import { respond, type Context } from './action.ts';
import type { CliConfig } from './config.ts';
import { integerIn } from './option-values.ts';
import type { Printed } from './output.ts';
import { flatten, formatFields, formatTable, type Column } from './table.ts';
import { UsageError } from './usage-error.ts';

const HISTORY_COLUMNS: Column<ConfigHistoryItem>[] = [
  { header: 'VERSION', value: (v) => v.version },
  { header: 'CHANGED AT', value: (v) => v.changedAt },
  { header: 'CHANGED BY', value: (v) => v.changedBy },
];

/** VALUE as JSON when it parses (100, 0.5, true, {"rpm": 50}), else as the string it is. */
function parseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The same merge, checks and storage as PUT /v1/admin/config: one implementation, in @esh3ar/runtime. */
async function withStore<T>(config: CliConfig, logger: Logger, work: (store: ConfigStore) => Promise<T>): Promise<T> {
  const pool = createPool(config.postgres.url, { max: 1, applicationName: 'esh3ar-cli' });
  const redis = createRedis(config.redis, { name: 'esh3ar-cli', failFast: true });
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

const printedVersion = (versioned: { version: number; config: unknown }): Printed => ({
  data: versioned,
  text: () => formatFields({ version: versioned.version, ...flatten(versioned.config) }),
});

function printedChange(change: ConfigChange, logger: Logger): Printed {
  if (!change.notified)
    logger.warn({ version: change.version }, 'Redis unreachable: processes apply this version when they next poll PostgreSQL (~1 s)');
  return printedVersion({ version: change.version, config: change.config });
}

const changedBy = () => `cli:${userInfo().username}`;

/** `config get | set KEY VALUE | history [--limit N] | rollback VERSION`. */
export function configCommand(ctx: Context): Command {
  const { config, logger } = ctx;
  const get = new Command('get')
    .summary('the runtime configuration in force')
    .description('The runtime configuration in force: {"version", "config"}.')
    .action(respond(ctx, async () => printedVersion(await withStore(config, logger, (store) => readRuntimeConfig(store)))));

  const set = new Command('set')
    .summary('change one key')
    .description(
      'Change one key, through the same checks as PUT /v1/admin/config, and store the result as the next version. ' +
        'A refused value exits 1 and stores nothing. Prints {"version", "config"}.',
    )
    .argument('<key>', 'a dotted path, such as buffer.capacity or rateLimit.tiers.basic')
    .argument('<value>', 'JSON when it parses (20000, 0.5, \'{"rpm": 500, "burst": 50}\'), else a string')
    // VALUE may be "-1": it must reach the checks (exit 1), not be taken for an option.
    .action(
      respond(ctx, async (_options, [key, value]) => {
        if (!/^[^.]+(\.[^.]+)*$/.test(key!)) throw new UsageError(`KEY must be a dotted path like buffer.capacity, got "${key}"`);
        const patch = patchAt(key!, parseValue(value!));
        return printedChange(await withStore(config, logger, (store) => changeRuntimeConfig(store, patch, changedBy())), logger);
      }),
    );

  const history = new Command('history')
    .summary('the stored versions, newest first')
    .description('The stored versions, newest first: {"items": [{version, changedAt, changedBy, config}]}.')
    .option('--limit <n>', 'versions to show (1-1000)', integerIn(1, 1000), 100)
    .action(
      respond<{ limit: number }>(ctx, async (o) => {
        const items = await withStore(config, logger, (store) => runtimeConfigVersions(store, o.limit));
        return { data: { items }, text: () => formatTable(items, HISTORY_COLUMNS, 'No version.') };
      }),
    );

  const rollback = new Command('rollback')
    .summary('store an earlier version again as the newest')
    .description('Store VERSION again as the newest (0: the built-in defaults). Prints {"version", "config"}.')
    .argument('<version>', 'a version from config history')
    .action(
      respond(ctx, async (_options, [text]) => {
        if (!/^\d+$/.test(text!)) throw new UsageError('config rollback needs a VERSION (an integer ≥ 0)');
        const version = Number(text);
        return printedChange(await withStore(config, logger, (store) => rollbackRuntimeConfig(store, version, changedBy())), logger);
      }),
    );

  return new Command('config')
    .summary('the runtime configuration: get, set, history, rollback')
    .description('The runtime configuration, retuned while Esh3ar runs: every process applies a new version within 2 s.')
    .addCommand(get)
    .addCommand(set)
    .addCommand(history)
    .addCommand(rollback);
}
