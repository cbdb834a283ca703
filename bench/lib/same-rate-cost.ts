import pg from 'pg';
import { createDatabase, deletePrefix, NODE_FLAGS, startStack, uniquePrefix, type StackOptions } from '@esh3ar/stack';
import { startCeiling, startFloor, type FloorProcesses } from './ceiling-process.ts';
import { sustained, type Target } from './load.ts';
import { cpuSeconds } from './proc-stats.ts';
import { loadUntilStored, measureUntilStored, OTP_BODY, per1000, type UntilStored } from './until-stored.ts';

/** What one round measured: CPU seconds per 1,000 accepted messages, by process (0 where the process was not run). */
export interface Cost {
  requestsPerSecond: number;
  accepted: number;
  api: number;
  worker: number;
  redis: number;
  postgres: number;
  total: number;
  loadGenerator: number;
}

export interface RoundOptions {
  connections: number;
  seconds: number;
  /** Requests per second offered; 0: as fast as answered. */
  rate: number;
}

/** OTP_BODY to POST /v1/messages of a server without authentication (the ceiling's, the floor's). */
const bareTarget = (name: string, url: string): Target => ({
  name,
  url,
  path: '/v1/messages',
  headers: { 'content-type': 'application/json' },
  body: OTP_BODY,
});

/** The bare route (bench/lib/ceiling-server.ts) in a process of its own: 2 s of warm-up, then `seconds` of OTP_BODY. */
export async function ceilingRound({ connections, seconds, rate }: RoundOptions): Promise<Cost> {
  const ceiling = await startCeiling();
  try {
    const target = bareTarget('ceiling', ceiling.url);
    await sustained(target, { connections, seconds: 2 });
    const cpu0 = cpuSeconds(ceiling.pid);
    const load0 = process.cpuUsage();
    const result = await sustained(target, { connections, seconds, overallRate: rate });
    const load = process.cpuUsage(load0);
    const api = per1000(cpuSeconds(ceiling.pid) - cpu0, result.ok);
    return {
      requestsPerSecond: result.requestsPerSecond,
      accepted: result.ok,
      api,
      worker: 0,
      redis: 0,
      postgres: 0,
      total: api,
      loadGenerator: per1000((load.user + load.system) / 1e6, result.ok),
    };
  } finally {
    await ceiling.stop();
  }
}

/** A round's figures from what measureUntilStored measured. */
const costOf = (m: UntilStored): Cost => ({
  requestsPerSecond: m.result.requestsPerSecond,
  accepted: m.result.ok,
  api: m.api,
  worker: m.workers,
  redis: m.redis,
  postgres: m.postgres,
  total: m.api + m.workers + m.redis + m.postgres,
  loadGenerator: m.loadGenerator,
});

/**
 * The floor of the shape (bench/lib/floor-server.ts and floor-worker.ts): the bare route
 * plus a durable, group-committed BullMQ enqueue, and a bare BullMQ worker COPYing the jobs
 * it holds into one table, on the shared Redis and PostgreSQL (a database and prefix of its own),
 * loaded as esh3arRound loads Esh3ar: 2 s of warm-up stored first, then `seconds`, counted
 * until every accepted message is in the table.
 */
export async function floorRound({ connections, seconds, rate }: RoundOptions): Promise<Cost> {
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = uniquePrefix('floor');
  const db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'floor');
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  let floor: FloorProcesses | undefined;
  try {
    // The api's and the worker's node flags: the floor spends what Esh3ar's processes would at least.
    floor = await startFloor(
      { FLOOR_REDIS_URL: redisUrl, FLOOR_PREFIX: prefix, FLOOR_DATABASE_URL: db.url },
      { server: NODE_FLAGS.api, worker: NODE_FLAGS.worker },
    );
    const stored = async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM floor_messages')).rows[0]!.n);
    const m = await measureUntilStored(
      { target: bareTarget('floor', floor.server.url), api: floor.server.pid, workers: [floor.worker.pid], stored },
      { connections, seconds, overallRate: rate },
    );
    return costOf(m);
  } finally {
    await floor?.stop();
    await pool.end();
    await db.drop();
    await deletePrefix(redisUrl, prefix);
  }
}

/**
 * A fresh stack (1 api, 1 worker, its own database and REDIS_PREFIX) loaded with OTP_BODY
 * until every accepted message is stored (loadUntilStored); `stack` adds to its options
 * (another checkout's root, settings).
 */
export async function esh3arRound(name: string, round: RoundOptions, stack: Partial<StackOptions> = {}): Promise<Cost> {
  const started = await startStack('cost', { ...stack, workers: 1, env: { BUFFER_CAPACITY: '100000000', ...stack.env } });
  try {
    const m = await loadUntilStored(started, name, { connections: round.connections, seconds: round.seconds, overallRate: round.rate });
    return costOf(m);
  } finally {
    await started.close();
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Each figure's median over the rounds. */
export const medianCost = (costs: Cost[]): Cost =>
  Object.fromEntries(Object.keys(costs[0]!).map((k) => [k, median(costs.map((c) => c[k as keyof Cost]))])) as unknown as Cost;
