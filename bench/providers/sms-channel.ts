/**
 * `node bench/providers/sms-channel.ts`: sms sends through provider-sim answering in 50 ms,
 * without errors, by 1 and by 2 worker processes, against the ceiling measured in the same
 * run: a direct loop of calls to the same provider-sim with the same HTTP client (undici,
 * as the worker's sim adapter) and as many in flight as a worker allows
 * (PROVIDER_MAX_IN_FLIGHT). Then the time from the provider's recovery (after an outage long
 * enough to open the breakers) to the backlog drained. Not part of `pnpm test`.
 *
 * The messages go in through the api first, with no worker running; the workers started
 * then store them (COPY, ~100k rows/s) and send them, so the rate is taken from the first
 * `sent` to the last. CPU seconds per 1,000 sends from /proc, of the workers, Redis and
 * PostgreSQL (every postgres process: other work on the machine counts too), and of
 * provider-sim; the ceiling's of this process and provider-sim.
 *
 * BENCH_PROVIDER_MESSAGES (30000), BENCH_PROVIDER_IN_FLIGHT (512, the worker's default),
 * BENCH_PROVIDER_OUTAGE_MESSAGES (1000), BENCH_PROVIDER_HALF_OPEN_MS (5000): breaker.halfOpenAfterMs
 * for the recovery (the default 30 s would make the figure mostly that wait).
 * Writes bench/results/providers-<date>.md and .json.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { send, startApp, startStack, waitFor, type AppProcess, type Stack } from '@esh3ar/stack';
import { cpuByName, cpuSeconds, cpuSinceByName } from '../lib/proc-stats.ts';
import { resultStamp, writeResult } from '../lib/results.ts';

const MESSAGES = Number(process.env.BENCH_PROVIDER_MESSAGES ?? 30_000);
const IN_FLIGHT = Number(process.env.BENCH_PROVIDER_IN_FLIGHT ?? 512);
const OUTAGE_MESSAGES = Number(process.env.BENCH_PROVIDER_OUTAGE_MESSAGES ?? 1000);
const HALF_OPEN_MS = Number(process.env.BENCH_PROVIDER_HALF_OPEN_MS ?? 5000);
const LATENCY_MS = 50;
const ADMIN = `adm_${randomBytes(24).toString('base64url')}`;

/** The worker's HTTP client, resolved where the worker resolves it (the repository's root does not depend on undici). */
interface UndiciPool {
  request(options: { method: string; path: string; headers: Record<string, string>; body: string }): Promise<{
    statusCode: number;
    body: { text(): Promise<string> };
  }>;
  close(): Promise<void>;
}
const { Pool } = createRequire(new URL('../../apps/worker/package.json', import.meta.url))('undici') as {
  Pool: new (origin: string, options: { connections: number }) => UndiciPool;
};

interface SimStats {
  accepted: number;
  duplicates: number;
}
const simStats = async (sim: AppProcess): Promise<SimStats> => ((await send(sim.url, null, 'GET', '/stats')).body as { sms: SimStats }).sms;

interface Cpu {
  /** CPU seconds per 1,000 sends; null where the process is not visible here. */
  workers: number;
  redis: number | null;
  postgres: number | null;
  sim: number;
}

interface Throughput {
  workers: number;
  messages: number;
  /** From the first `sent` to the last. */
  seconds: number;
  perSecond: number;
  /** From the workers' start to the last `sent`: their start-up and the storing included. */
  wallSeconds: number;
  cpu: Cpu;
  atProvider: SimStats;
}

interface Ceiling {
  calls: number;
  seconds: number;
  perSecond: number;
  cpu: { client: number; sim: number };
}

const perThousand = (seconds: number, count: number) => (seconds / count) * 1000;

/** `count` sends straight to provider-sim, `IN_FLIGHT` at a time, as the worker's adapter makes them. */
async function ceiling(sim: AppProcess, count: number): Promise<Ceiling> {
  const pool = new Pool(sim.url, { connections: IN_FLIGHT });
  const before = { client: process.cpuUsage(), sim: cpuSeconds(sim.pid) };
  const started = performance.now();
  let next = 0;
  const loop = async () => {
    while (next < count) {
      const i = next++;
      const response = await pool.request({
        method: 'POST',
        path: '/v1/sms/send',
        headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
        body: JSON.stringify({ to: `+9665${String(30_000_000 + i).slice(0, 8)}`, text: `ceiling ${i}` }),
      });
      await response.body.text();
      if (response.statusCode !== 200) throw new Error(`provider-sim answered ${response.statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, loop));
  const seconds = (performance.now() - started) / 1000;
  const client = process.cpuUsage(before.client);
  await pool.close();
  return {
    calls: count,
    seconds,
    perSecond: count / seconds,
    cpu: { client: perThousand((client.user + client.system) / 1e6, count), sim: perThousand(cpuSeconds(sim.pid) - before.sim, count) },
  };
}

async function sendAll(stack: Stack, apiKey: string, count: number, tag: string): Promise<void> {
  for (let i = 0; i < count; i += 1000) {
    const messages = Array.from({ length: Math.min(1000, count - i) }, (_, j) => ({
      recipient: `+9665${String(10_000_000 + i + j).slice(0, 8)}`,
      content: `${tag} ${i + j}`,
      channel: 'sms',
    }));
    const r = await send(stack.api!.url, apiKey, 'POST', '/v1/messages/batch', { messages });
    if (r.status !== 202 || (r.body as { accepted: number }).accepted !== messages.length)
      throw new Error(`batch not accepted: ${JSON.stringify(r.body).slice(0, 300)}`);
  }
}

async function sentCount(stack: Stack, tag: string): Promise<number> {
  const { rows } = await stack.pool.query<{ n: string }>("SELECT count(*) AS n FROM messages WHERE status = 'sent' AND content LIKE $1", [
    `${tag}%`,
  ]);
  return Number(rows[0]!.n);
}

/** The first and last `sent` of the tagged messages (ms). */
async function sendSpan(stack: Stack, tag: string): Promise<{ first: number; last: number }> {
  const { rows } = await stack.pool.query<{ first: Date; last: Date }>(
    `SELECT min(e.at) AS first, max(e.at) AS last FROM message_events e JOIN messages m ON m.id = e.message_id
     WHERE e.status = 'sent' AND m.content LIKE $1`,
    [`${tag}%`],
  );
  return { first: rows[0]!.first.getTime(), last: rows[0]!.last.getTime() };
}

async function throughput(sim: AppProcess, workers: number): Promise<Throughput> {
  const stack = await startStack(`bench-providers-${workers}`, {
    env: { PROVIDER_BASE_URL: sim.url, ADMIN_TOKEN: ADMIN, BUFFER_CAPACITY: '1000000', PROVIDER_MAX_IN_FLIGHT: String(IN_FLIGHT) },
  });
  try {
    const { apiKey } = await stack.tenant('enterprise', { rpm: 100_000_000, burst: 100_000_000 });
    const tag = `throughput-${workers}`;
    await sendAll(stack, apiKey, MESSAGES, tag);
    const stats = await simStats(sim);
    const started = performance.now();
    const procs = await Promise.all(Array.from({ length: workers }, () => stack.startWorker()));
    // From their ready line on: their start-up (loading modules, ~1 s of CPU each) is left out.
    const before = {
      workers: procs.map((p) => cpuSeconds(p.pid)),
      redis: cpuByName('redis-server'),
      postgres: cpuByName('postgres'),
      sim: cpuSeconds(sim.pid),
    };
    await waitFor(
      () => sentCount(stack, tag),
      (n) => n === MESSAGES,
      600_000,
      100,
    );
    const wallSeconds = (performance.now() - started) / 1000;
    const workerCpu = procs.reduce((sum, p, i) => sum + cpuSeconds(p.pid) - before.workers[i]!, 0);
    const redis = cpuSinceByName('redis-server', before.redis);
    const postgres = cpuSinceByName('postgres', before.postgres);
    const simCpu = cpuSeconds(sim.pid) - before.sim;
    const after = await simStats(sim);
    const span = await sendSpan(stack, tag);
    const seconds = (span.last - span.first) / 1000;
    return {
      workers,
      messages: MESSAGES,
      seconds,
      perSecond: (MESSAGES - 1) / seconds,
      wallSeconds,
      cpu: {
        workers: perThousand(workerCpu, MESSAGES),
        redis: redis === null ? null : perThousand(redis, MESSAGES),
        postgres: postgres === null ? null : perThousand(postgres, MESSAGES),
        sim: perThousand(simCpu, MESSAGES),
      },
      atProvider: { accepted: after.accepted - stats.accepted, duplicates: after.duplicates - stats.duplicates },
    };
  } finally {
    await stack.close();
  }
}

async function recovery(sim: AppProcess): Promise<{ messages: number; outageSeconds: number; drainSeconds: number; atProvider: SimStats }> {
  const stack = await startStack('bench-providers-recovery', {
    workers: 2,
    env: { PROVIDER_BASE_URL: sim.url, ADMIN_TOKEN: ADMIN, BUFFER_CAPACITY: '1000000', PROVIDER_MAX_IN_FLIGHT: String(IN_FLIGHT) },
  });
  try {
    const { apiKey } = await stack.tenant('enterprise', { rpm: 100_000_000, burst: 100_000_000 });
    const put = await send(stack.api!.url, ADMIN, 'PUT', '/v1/admin/config', {
      breaker: { halfOpenAfterMs: HALF_OPEN_MS },
      worker: { maxAttempts: 100 },
    });
    if (put.status !== 200) throw new Error(`config not applied: ${JSON.stringify(put.body)}`);
    await send(sim.url, null, 'PUT', '/control', { channel: 'sms', down: true });
    const before = await simStats(sim);
    const outageStarted = performance.now();
    await sendAll(stack, apiKey, OUTAGE_MESSAGES, 'recovery');
    await waitFor(
      () => send(stack.workers[0]!.url, null, 'GET', '/health/ready'),
      (r) => (r.body as { checks: { breakers?: { sms?: string } } }).checks.breakers?.sms === 'open',
      60_000,
      100,
    );
    await send(sim.url, null, 'PUT', '/control', { channel: 'sms', down: false, latencyMs: LATENCY_MS, errorRate: 0.05 });
    const recovered = performance.now();
    await waitFor(
      () => sentCount(stack, 'recovery'),
      (n) => n === OUTAGE_MESSAGES,
      600_000,
      100,
    );
    const after = await simStats(sim);
    return {
      messages: OUTAGE_MESSAGES,
      outageSeconds: (recovered - outageStarted) / 1000,
      drainSeconds: (performance.now() - recovered) / 1000,
      atProvider: { accepted: after.accepted - before.accepted, duplicates: after.duplicates - before.duplicates },
    };
  } finally {
    await stack.close();
  }
}

const fixed = (n: number | null, digits = 3) => (n === null ? 'n/a' : n.toFixed(digits));

// Up to 200,000 received items kept: the ceiling's calls and both runs' messages, with room.
const sim = await startApp('provider-sim', { PROVIDER_SIM_PORT: '0', PROVIDER_SIM_MAX_RECEIVED: '200000' });
try {
  await send(sim.url, null, 'PUT', '/control', { channel: 'sms', latencyMs: LATENCY_MS, errorRate: 0 });
  await ceiling(sim, Math.min(MESSAGES, 5000)); // warm-up of provider-sim and the client
  const top = await ceiling(sim, MESSAGES);
  await send(sim.url, null, 'DELETE', '/received');
  const one = await throughput(sim, 1);
  const two = await throughput(sim, 2);
  const back = await recovery(sim);
  const lines = [
    `# Providers: sms through provider-sim answering in ${LATENCY_MS} ms, no errors (${new Date().toISOString()})`,
    '',
    `Ceiling: ${top.calls} calls straight to provider-sim, ${IN_FLIGHT} in flight (undici, as the worker's adapter): ` +
      `${Math.round(top.perSecond)} calls/s; CPU s per 1,000: ${fixed(top.cpu.client)} this client, ${fixed(top.cpu.sim)} provider-sim.`,
    '',
    `| workers | messages | seconds (first to last sent) | messages/s | of the ceiling | workers' CPU s per 1,000 | Redis | PostgreSQL | provider-sim | accepted by the provider, duplicates |`,
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...[one, two].map(
      (r) =>
        `| ${r.workers} | ${r.messages} | ${r.seconds.toFixed(1)} (${r.wallSeconds.toFixed(1)} from start) | ${Math.round(r.perSecond)} | ` +
        `${(r.perSecond / top.perSecond).toFixed(2)}x | ${fixed(r.cpu.workers)} | ${fixed(r.cpu.redis)} | ${fixed(r.cpu.postgres)} | ` +
        `${fixed(r.cpu.sim)} | ${r.atProvider.accepted}, ${r.atProvider.duplicates} |`,
    ),
    '',
    `2 workers: ${(two.perSecond / one.perSecond).toFixed(2)}x one.`,
    '',
    `Recovery: ${back.messages} messages sent while the provider was down (${back.outageSeconds.toFixed(1)} s, breakers open), ` +
      `2 workers, breaker.halfOpenAfterMs ${HALF_OPEN_MS}, then 5% errors: backlog drained ${back.drainSeconds.toFixed(1)} s after the provider came back; ` +
      `${back.atProvider.accepted} accepted by the provider, ${back.atProvider.duplicates} duplicates.`,
    '',
    `Each worker sends its send jobs' messages (batches of up to 500) with up to PROVIDER_MAX_IN_FLIGHT (${IN_FLIGHT}) calls in flight, ` +
      `claimed and recorded 64 to 128 per statement; at ${LATENCY_MS} ms a call, ${Math.round((IN_FLIGHT * 1000) / LATENCY_MS)} calls/s per worker at most.`,
  ];
  console.log(lines.join('\n'));
  const stamp = resultStamp(new Date());
  writeResult(`providers-${stamp}.md`, `${lines.join('\n')}\n`);
  writeResult(
    `providers-${stamp}.json`,
    JSON.stringify({ ceiling: top, throughput: [one, two], recovery: back, inFlight: IN_FLIGHT, halfOpenAfterMs: HALF_OPEN_MS }, null, 2),
  );
} finally {
  await sim.stop();
}
