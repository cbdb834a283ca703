import { parseArgs } from 'node:util';
import { PROVIDER_CHANNELS } from '@esh3ar/contracts';
import { createPool, listDeadLetters, replayDeadLetters, type DlqFilter } from '@esh3ar/db';
import { createRedis, enqueueReplays, sendQueues } from '@esh3ar/queue';
import type { CliConfig } from './config.ts';
import { UsageError } from './usage-error.ts';

const FILTER_OPTIONS = {
  tenant: { type: 'string' },
  channel: { type: 'string' },
  error: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  limit: { type: 'string' },
  all: { type: 'boolean' },
} as const;

function parse(args: string[]) {
  try {
    return parseArgs({ args, options: FILTER_OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function filterOf(values: ReturnType<typeof parse>['values']): DlqFilter {
  if (values.channel !== undefined && !(PROVIDER_CHANNELS as readonly string[]).includes(values.channel)) {
    throw new UsageError(`--channel must be one of ${PROVIDER_CHANNELS.join(', ')}`);
  }
  for (const name of ['since', 'until'] as const) {
    if (values[name] !== undefined && Number.isNaN(Date.parse(values[name]))) throw new UsageError(`--${name} must be an ISO time`);
  }
  return {
    tenantId: values.tenant ?? null,
    channel: values.channel ?? null,
    error: values.error ?? null,
    since: values.since ?? null,
    until: values.until ?? null,
  };
}

/** `dlq list [--tenant --channel --error --since --until --limit]`: dead letters, newest first. */
export async function runDlqList(config: CliConfig, args: string[]): Promise<string> {
  const { values } = parse(args);
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError('--limit must be an integer from 1 to 10000');
  const pool = createPool(config.postgres.url, { max: 1, applicationName: 'esh3ar-cli' });
  try {
    return JSON.stringify({ items: await listDeadLetters(pool, filterOf(values), limit, null) });
  } finally {
    await pool.end();
  }
}

/** `dlq replay ID... | --all [filters]`: back to pending with a fresh retry budget, and sent again (or left in the DLQ if Redis fails). */
export async function runDlqReplay(config: CliConfig, args: string[]): Promise<string> {
  const { values, positionals } = parse(args);
  if (positionals.length === 0 && !values.all) throw new UsageError('dlq replay needs message ids, or --all (optionally with filters)');
  if (positionals.length > 0 && values.all) throw new UsageError('give message ids or --all, not both');
  const pool = createPool(config.postgres.url, { max: 1, applicationName: 'esh3ar-cli' });
  const redis = createRedis(config.redis.url, { name: 'esh3ar-cli', failFast: true });
  let queues: ReturnType<typeof sendQueues> = new Map();
  try {
    // In the try: with Redis down, the client would otherwise go on reconnecting and keep the
    // process alive. The queues after it: BullMQ keeps a queue's first connection check, failed
    // for good when made before the client is connected (failFast has no offline queue).
    await redis.connect();
    queues = sendQueues(redis, config.redis.prefix);
    const ids = values.all ? (await listDeadLetters(pool, filterOf(values), 10_000, null)).map((d) => d.id) : positionals;
    // The api's path (POST /v1/admin/dlq/replay): the messages leave the DLQ only if all their jobs were enqueued.
    const messages = await replayDeadLetters(pool, ids, (moved) => enqueueReplays(queues, moved));
    return JSON.stringify({ replayed: messages.length, ids: messages.map((m) => m.id) });
  } finally {
    await Promise.allSettled([...queues.values()].map((q) => q.close()));
    redis.disconnect();
    await pool.end();
  }
}
