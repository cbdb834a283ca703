import { ReplyError, type Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isCluster, type RedisClient } from './redis.ts';

/**
 * A message answered 202 lives only in Redis until a worker stores it, so that answer
 * is a promise only on a Redis that keeps what it acknowledged: with the append-only
 * file on (`appendonly yes`; without it a restart loses everything written since the
 * last snapshot, and `save ''` means every write) and never evicting a key to make
 * room (`maxmemory-policy noeviction`; under any other policy a full Redis deletes
 * buffered jobs instead of refusing new ones, which the api answers as 503).
 */
export interface DurabilityProblem {
  setting: 'appendonly' | 'maxmemory-policy';
  /** What Redis reported ("unknown" when it did not say). */
  found: string;
  wanted: string;
  /** The Cluster node (`host:port`) it was found on; absent on one Redis. */
  node?: string;
}

export interface DurabilityReport {
  /** Where the settings were read: CONFIG GET, or INFO where CONFIG is disabled or renamed. */
  source: 'CONFIG GET' | 'INFO';
  /** Why CONFIG GET was not used, when it was not. */
  configRefused?: string;
  problems: DurabilityProblem[];
}

const WANTED = { appendonly: 'yes', 'maxmemory-policy': 'noeviction' } as const;

function problemsOf(found: Record<keyof typeof WANTED, string>): DurabilityProblem[] {
  return (Object.keys(WANTED) as (keyof typeof WANTED)[])
    .filter((setting) => found[setting] !== WANTED[setting])
    .map((setting) => ({ setting, found: found[setting], wanted: WANTED[setting] }));
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

async function configGet(redis: Redis, setting: string): Promise<string> {
  // CONFIG GET answers [name, value] pairs; nothing at all for a name this Redis does not know.
  const pairs = await redis.config('GET', setting);
  return pairs[1] ?? 'unknown';
}

/**
 * Reads the two settings with CONFIG GET, or from INFO persistence / INFO memory where
 * CONFIG is refused (renamed or disabled by `rename-command`, or not allowed by the ACL,
 * as managed Redis services often do). Rejects only when Redis does not answer.
 */
async function readServerDurability(redis: Redis): Promise<DurabilityReport> {
  try {
    const [appendonly, policy] = await Promise.all([configGet(redis, 'appendonly'), configGet(redis, 'maxmemory-policy')]);
    return { source: 'CONFIG GET', problems: problemsOf({ appendonly, 'maxmemory-policy': policy }) };
  } catch (error) {
    if (!(error instanceof ReplyError)) throw error;
    const [persistence, memory] = await Promise.all([redis.info('persistence'), redis.info('memory')]);
    const aof = infoField(persistence, 'aof_enabled');
    return {
      source: 'INFO',
      configRefused: (error as Error).message,
      problems: problemsOf({
        appendonly: aof === undefined ? 'unknown' : aof === '1' ? 'yes' : 'no',
        'maxmemory-policy': infoField(memory, 'maxmemory_policy') ?? 'unknown',
      }),
    };
  }
}

/**
 * As above, for one Redis or for every node of a Cluster (masters and replicas: a replica
 * becomes a master at a failover, and what it loses then was promised too).
 */
export async function readRedisDurability(redis: RedisClient): Promise<DurabilityReport> {
  if (!isCluster(redis)) return readServerDurability(redis);
  const nodes = redis.nodes('all');
  const reports = await Promise.all(nodes.map((node) => readServerDurability(node)));
  const refused = reports.find((r) => r.configRefused !== undefined);
  return {
    source: refused ? 'INFO' : 'CONFIG GET',
    ...(refused ? { configRefused: refused.configRefused } : {}),
    problems: reports.flatMap((r, i) => r.problems.map((p) => ({ ...p, node: `${nodes[i]!.options.host}:${nodes[i]!.options.port}` }))),
  };
}

/** What an operator reads when a process refuses a Redis: each setting, what to set, and the way out for development. */
export function volatileRedisMessage(report: DurabilityReport): string {
  const found = report.problems.map((p) => `${p.setting} is ${p.found}${p.node === undefined ? '' : ` on ${p.node}`}`).join(' and ');
  const wanted = [...new Set(report.problems.map((p) => `${p.setting} ${p.wanted}`))].join(' and ');
  return (
    `Redis can lose messages answered 202: ${found} (read with ${report.source}). ` +
    `Set ${wanted} in redis.conf or your Redis service's settings (CONFIG SET, then CONFIG REWRITE, where CONFIG is allowed) and start this process again. ` +
    'For development only, ALLOW_VOLATILE_BUFFER=on starts it anyway'
  );
}

export class VolatileRedisError extends Error {
  override name = 'VolatileRedisError';
  readonly code = 'VOLATILE_REDIS';
  readonly report: DurabilityReport;

  constructor(report: DurabilityReport) {
    super(volatileRedisMessage(report));
    this.report = report;
  }
}

export interface DurabilityGuardOptions {
  /** ALLOW_VOLATILE_BUFFER=on: a volatile Redis is logged as an error at every check instead of refused. */
  allowVolatile: boolean;
  logger: Logger;
  /** A volatile Redis while it is not allowed: the process must stop (it was logged as fatal already). */
  onRefused: (error: VolatileRedisError) => void;
  /** Every completed check (for the esh3ar_redis_volatile gauge). */
  onChecked?: (report: DurabilityReport) => void;
}

/**
 * Checks the Redis behind `redis` each time the connection becomes ready: at start-up,
 * which may be long after the process started (it starts while Redis is down), and
 * after every reconnection, which may reach another server (a restart with another
 * configuration, a failover). A Cluster is ready once, and every node it knows then is
 * checked, replicas included: a failover promotes one of those. Between `ready` and the
 * answer (one round trip) the connection is already in use.
 */
export function guardRedisDurability(redis: RedisClient, options: DurabilityGuardOptions): void {
  const { logger, allowVolatile } = options;
  if (allowVolatile)
    logger.warn('ALLOW_VOLATILE_BUFFER=on: this process runs even on a Redis that can lose accepted messages; development only');
  const check = () => {
    readRedisDurability(redis).then(
      (report) => {
        options.onChecked?.(report);
        if (report.configRefused !== undefined)
          logger.info(
            { configRefused: report.configRefused },
            'Redis refused CONFIG GET; durability settings read from INFO persistence and INFO memory',
          );
        if (report.problems.length === 0) {
          logger.info({ source: report.source }, 'Redis is durable: appendonly yes, maxmemory-policy noeviction');
          return;
        }
        const error = new VolatileRedisError(report);
        if (allowVolatile) {
          logger.error({ problems: report.problems }, `ALLOW_VOLATILE_BUFFER=on, so running anyway: ${error.message}`);
          return;
        }
        logger.fatal({ problems: report.problems, code: error.code }, error.message);
        options.onRefused(error);
      },
      (error: unknown) =>
        logger.warn({ err: error }, 'Redis durability not checked (the connection failed); checking again when it is ready'),
    );
  };
  redis.on('ready', check);
  if (redis.status === 'ready') check();
}
