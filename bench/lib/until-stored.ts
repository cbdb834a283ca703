import { waitFor, type Stack } from '@esh3ar/stack';
import { sustained, type SustainedOptions, type SustainedResult, type Target } from './load.ts';
import { cpuByName, cpuSeconds, cpuSinceByName } from './proc-stats.ts';

/** The message every CPU-per-message benchmark sends: what the ceiling (bench/lib/ceiling-server.ts) is loaded with too. */
export const OTP_BODY = JSON.stringify({ recipient: '+966501234567', content: 'Your verification code is 482913' });

export const per1000 = (cpuSeconds: number, messages: number) => (cpuSeconds / messages) * 1000;

export interface UntilStored {
  result: SustainedResult;
  /** From the start of the load until the worker(s) had stored the last message it got accepted. */
  storedSeconds: number;
  /** CPU seconds per 1,000 accepted messages over that time (/proc; Redis and PostgreSQL by process name). */
  api: number;
  workers: number;
  redis: number;
  postgres: number;
  /** This process's CPU while it generated the load, per 1,000 accepted. */
  loadGenerator: number;
}

/** What measureUntilStored loads and watches: the processes counted by pid, and how many messages are stored. */
export interface StoredTarget {
  target: Target;
  api: number;
  workers: readonly number[];
  stored: () => Promise<number>;
}

/**
 * Loads `target` after 2 s of warm-up that is stored before anything is counted, then
 * waits until every message the load got accepted is stored: what each tier spent on
 * them, whatever ran late (Redis and PostgreSQL by process name).
 */
export async function measureUntilStored(
  { target, api, workers, stored }: StoredTarget,
  options: Omit<SustainedOptions, 'onAccepted'>,
): Promise<UntilStored> {
  const warm = await sustained(target, { connections: options.connections, seconds: 2 });
  await waitFor(stored, (n) => n >= warm.ok, 120_000, 100);
  const pids = [api, ...workers];
  const [cpu0, redis0, postgres0] = [pids.map(cpuSeconds), cpuByName('redis-server'), cpuByName('postgres')];
  const load0 = process.cpuUsage();
  const started = performance.now();
  const result = await sustained(target, options);
  const load = process.cpuUsage(load0);
  await waitFor(stored, (n) => n >= warm.ok + result.ok, 300_000, 50);
  const storedSeconds = (performance.now() - started) / 1000;
  const cpu = pids.map((pid, i) => cpuSeconds(pid) - cpu0[i]!);
  return {
    result,
    storedSeconds,
    api: per1000(cpu[0]!, result.ok),
    workers: per1000(
      cpu.slice(1).reduce((a, b) => a + b, 0),
      result.ok,
    ),
    redis: per1000(cpuSinceByName('redis-server', redis0) ?? Number.NaN, result.ok),
    postgres: per1000(cpuSinceByName('postgres', postgres0) ?? Number.NaN, result.ok),
    loadGenerator: per1000((load.user + load.system) / 1e6, result.ok),
  };
}

/** measureUntilStored for a stack's api (a tenant of its own without limits) and workers. */
export async function loadUntilStored(stack: Stack, name: string, options: Omit<SustainedOptions, 'onAccepted'>): Promise<UntilStored> {
  const { apiKey } = await stack.tenant('enterprise', { rpm: 2_000_000_000, burst: 2_000_000_000 });
  const target = {
    name,
    url: stack.api!.url,
    path: '/v1/messages',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: OTP_BODY,
  };
  const stored = async () => Number((await stack.pool.query<{ n: string }>('SELECT count(*) AS n FROM messages')).rows[0]!.n);
  return measureUntilStored({ target, api: stack.api!.pid, workers: stack.workers.map((w) => w.pid), stored }, options);
}
