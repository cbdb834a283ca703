import { isUuid, PROVIDER_CHANNELS, type BufferedMessage } from '@esh3ar/contracts';
import {
  createPool,
  listDeadLetters,
  replayAllDeadLetters,
  replayDeadLetters,
  tallyDeadLetters,
  type DeadLetter,
  type DlqFilter,
  type DlqTally,
} from '@esh3ar/db';
import { createRedis, enqueueReplays, redisAddress, redisKeys, replicaWait, sendQueues } from '@esh3ar/queue';
import { waitReplicasOf } from '@esh3ar/config';
import { Command, Option } from 'commander';
import type pg from 'pg';
import { respond, type Context } from './action.ts';
import { withPool } from './cli-pool.ts';
import { integerIn, isoTime, uuidOf } from './option-values.ts';
import type { Printed } from './output.ts';
import { progressBar } from './progress.ts';
import { formatTable, type Column } from './table.ts';
import { UsageError } from './usage-error.ts';

interface FilterOptions {
  tenant?: string;
  channel?: string;
  error?: string;
  since?: string;
  until?: string;
}

// A tenth of the 10,000 ids the api replays in one transaction (POST /v1/admin/dlq/replay):
// each page's rows stay locked until its jobs are in Redis, well inside the 10 s
// idle-in-transaction limit of replayDeadLetters.
const DEFAULT_PAGE_SIZE = 1000;

const DEAD_LETTER_COLUMNS: Column<DeadLetter>[] = [
  { header: 'ID', value: (d) => d.id },
  { header: 'TENANT', value: (d) => d.tenantId },
  { header: 'CHANNEL', value: (d) => d.channel },
  { header: 'PRIORITY', value: (d) => d.priority },
  { header: 'ATTEMPTS', value: (d) => d.attempts },
  { header: 'ERROR', value: (d) => d.failureReason },
  { header: 'DEAD-LETTERED', value: (d) => d.movedToDlqAt },
];

const TALLY_COLUMNS: Column<DlqTally['groups'][number]>[] = [
  { header: 'TENANT', value: (g) => g.tenantId },
  { header: 'CHANNEL', value: (g) => g.channel },
  { header: 'DEAD LETTERS', value: (g) => g.count },
];

function withFilterOptions(command: Command): Command {
  return command
    .option('--tenant <id>', "one tenant's", uuidOf('a tenant id'))
    .addOption(new Option('--channel <channel>', "one channel's").choices(PROVIDER_CHANNELS))
    .option('--error <text>', 'whose failure reason contains TEXT (any case)')
    .option('--since <time>', 'dead-lettered at or after this ISO time', isoTime)
    .option('--until <time>', 'dead-lettered before this ISO time', isoTime);
}

const filterOf = (o: FilterOptions): DlqFilter => ({
  tenantId: o.tenant ?? null,
  channel: o.channel ?? null,
  error: o.error ?? null,
  since: o.since ?? null,
  until: o.until ?? null,
});

const replayed = (ids: string[]): Printed => ({
  data: { replayed: ids.length, ids },
  text: () => `Replayed ${ids.length} dead letter${ids.length === 1 ? '' : 's'}.`,
});

/**
 * Redis connected, then the send queues; closed in order whatever happens. With Redis down
 * the client would otherwise go on reconnecting and keep the process alive; the queues come
 * after the connection because BullMQ keeps a queue's first connection check, failed for
 * good when made before the client is connected (failFast has no offline queue). `work` gets
 * a replay's enqueue, which waits for REDIS_WAIT_REPLICAS replicas as the api's does.
 */
async function withSendQueues<T>(
  ctx: Context,
  work: (pool: pg.Pool, enqueue: (moved: readonly BufferedMessage[]) => Promise<number>) => Promise<T>,
) {
  const { config, logger } = ctx;
  const pool = createPool(config.postgres.url, { max: 1, applicationName: 'esh3ar-cli' });
  const redis = createRedis(config.redis, { name: 'esh3ar-cli', failFast: true });
  // Reported once, by the failed connect or command below (ioredis prints unheard errors).
  redis.on('error', (error) => logger.debug({ err: error }, 'redis connection error'));
  let queues: ReturnType<typeof sendQueues> = new Map();
  try {
    await redis.connect().catch((error: Error) => {
      throw new Error(`Redis unreachable at ${redisAddress(config.redis)} (${error.message}): nothing was replayed`, { cause: error });
    });
    queues = sendQueues(redis, redisKeys(config.redis.prefix, { cluster: config.redis.clusterNodes !== null }));
    const replicas = replicaWait(redis, waitReplicasOf(config.redis));
    return await work(pool, (moved) => enqueueReplays(queues, moved, replicas));
  } finally {
    await Promise.allSettled([...queues.values()].map((q) => q.close()));
    redis.disconnect();
    await pool.end();
  }
}

/** Every match, a page per transaction, with a bar on a terminal (its total counted first). */
async function replayAll(ctx: Context, filter: DlqFilter, pageSize: number): Promise<string[]> {
  return withSendQueues(ctx, async (pool, enqueue) => {
    const bar = progressBar(ctx.stderr, ctx.stderrIsTTY, 'replaying');
    // One more read of the matches, only when a person watches: the bar needs its total.
    const total = bar === null ? 0 : (await tallyDeadLetters(pool, filter)).total;
    if (total > 0) bar?.start(total, 0);
    let done = 0;
    try {
      const run = await replayAllDeadLetters(
        pool,
        filter,
        {
          pageSize,
          onPage: (replayed) => {
            done += replayed;
            // Dead letters that arrived after the count are replayed too.
            if (bar !== null && done > bar.getTotal()) bar.setTotal(done);
            bar?.update(done);
          },
        },
        enqueue,
      );
      return run.ids;
    } finally {
      bar?.stop();
    }
  });
}

function dryRun(tally: DlqTally): Printed {
  return {
    data: { dryRun: true, wouldReplay: tally.total, groups: tally.groups },
    text: () =>
      `${formatTable(tally.groups, TALLY_COLUMNS, 'No dead letter matches.')}\n` +
      `${tally.total} dead letter${tally.total === 1 ? '' : 's'} would be replayed (dry run: nothing changed).`,
  };
}

interface ReplayOptions extends FilterOptions {
  all?: boolean;
  dryRun?: boolean;
  pageSize?: number;
}

function replay(ctx: Context): Command {
  const command = new Command('replay')
    .summary('send dead letters again, with a fresh retry budget')
    .description(
      'Send dead letters again, with a fresh retry budget, on the same path as POST /v1/admin/dlq/replay. ' +
        'IDs are replayed in one transaction: all of them leave the DLQ, or none if Redis fails. ' +
        '--all replays every match, however many, a page per transaction: a failure stops it with the pages ' +
        'before replayed and the rest still in the DLQ. Prints {"replayed", "ids"}; a dead letter kept without ' +
        'its tenant or content is never replayed. A progress bar goes to stderr on a terminal.',
    )
    .argument('[ids...]', 'message ids')
    .option('--all', 'every dead letter matching the filters (all of them without one)');
  return withFilterOptions(command)
    .option('--dry-run', 'with --all: print how many would be replayed, per tenant and channel, and change nothing')
    .option('--page-size <n>', `with --all: dead letters per transaction (1-10000; default ${DEFAULT_PAGE_SIZE})`, integerIn(1, 10_000))
    .action(
      respond<ReplayOptions>(ctx, async (o, ids) => {
        if (!o.all) {
          if (ids.length === 0) throw new UsageError('dlq replay needs message ids, or --all (optionally with filters)');
          const withAllOnly = ['tenant', 'channel', 'error', 'since', 'until', 'dryRun', 'pageSize'] as const;
          const stray = withAllOnly.find((name) => o[name] !== undefined);
          if (stray !== undefined) throw new UsageError(`--${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} goes with --all`);
          const bad = ids.find((id) => !isUuid(id));
          if (bad !== undefined) throw new UsageError(`"${bad}" is not a message id (a UUID)`);
          // The api's path: the messages leave the DLQ only if all their jobs were enqueued.
          const messages = await withSendQueues(ctx, (pool, enqueue) => replayDeadLetters(pool, ids, enqueue));
          return replayed(messages.map((m) => m.id));
        }
        if (ids.length > 0) throw new UsageError('give message ids or --all, not both');
        const pageSize = o.pageSize ?? DEFAULT_PAGE_SIZE;
        if (o.dryRun) return dryRun(await withPool(ctx.config, (pool) => tallyDeadLetters(pool, filterOf(o))));
        return replayed(await replayAll(ctx, filterOf(o), pageSize));
      }),
    );
}

function list(ctx: Context): Command {
  return withFilterOptions(
    new Command('list').summary('dead letters, newest first').description('Dead letters, newest first: {"items": [...]}.'),
  )
    .option('--limit <n>', 'dead letters to show (1-10000)', integerIn(1, 10_000), 100)
    .action(
      respond<FilterOptions & { limit: number }>(ctx, async (o) => {
        const items = await withPool(ctx.config, (pool) => listDeadLetters(pool, filterOf(o), o.limit, null));
        return { data: { items }, text: () => formatTable(items, DEAD_LETTER_COLUMNS, 'No dead letter.') };
      }),
    );
}

/** `dlq list [filters] [--limit N] | replay ID... | replay --all [filters] [--dry-run] [--page-size N]`. */
export function dlqCommand(ctx: Context): Command {
  return new Command('dlq')
    .summary('dead letters: list and replay')
    .description('The dead-letter queue: messages that used up their retries, kept until replayed or purged by retention.')
    .addCommand(list(ctx))
    .addCommand(replay(ctx));
}
