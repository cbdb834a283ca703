/**
 * `node bench/providers/sms-channel.ts`: throughput through the sms channel with a provider that
 * answers in 50 ms and fails 5% of calls (provider-sim), with 1 and with 2 workers;
 * then the time from the provider's recovery (after an outage long enough to open the
 * breakers) to the backlog drained. Not part of `pnpm test`.
 *
 * BENCH_PROVIDER_MESSAGES (3000), BENCH_PROVIDER_OUTAGE_MESSAGES (1000),
 * BENCH_PROVIDER_HALF_OPEN_MS (5000): breaker.halfOpenAfterMs for the run (the default 30 s
 * would make the recovery figure mostly that wait).
 * Writes bench/results/providers-<date>.md and .json.
 */
import { randomBytes } from 'node:crypto';
import { send, startApp, startStack, waitFor, type AppProcess, type Stack } from '@esh3ar/stack';
import { resultStamp, writeResult } from '../lib/results.ts';

const MESSAGES = Number(process.env.BENCH_PROVIDER_MESSAGES ?? 3000);
const OUTAGE_MESSAGES = Number(process.env.BENCH_PROVIDER_OUTAGE_MESSAGES ?? 1000);
const HALF_OPEN_MS = Number(process.env.BENCH_PROVIDER_HALF_OPEN_MS ?? 5000);
const ADMIN = `adm_${randomBytes(24).toString('base64url')}`;

async function sentCount(stack: Stack, tag: string): Promise<number> {
  const { rows } = await stack.pool.query<{ n: string }>("SELECT count(*) AS n FROM messages WHERE status = 'sent' AND content LIKE $1", [
    `${tag}%`,
  ]);
  return Number(rows[0]!.n);
}

async function providerCount(sim: AppProcess): Promise<number> {
  const r = await send(sim.url, null, 'GET', '/received?channel=sms');
  return (r.body as { items: unknown[] }).items.length;
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

async function throughput(
  sim: AppProcess,
  workers: number,
): Promise<{ workers: number; messages: number; seconds: number; perSecond: number; atProvider: number }> {
  const stack = await startStack(`bench-providers-${workers}`, {
    workers: 0,
    env: { PROVIDER_BASE_URL: sim.url, ADMIN_TOKEN: ADMIN, BUFFER_CAPACITY: '1000000' },
  });
  try {
    const { apiKey } = await stack.tenant('enterprise', { rpm: 100_000_000, burst: 100_000_000 });
    await send(sim.url, null, 'DELETE', '/received');
    const tag = `throughput-${workers}`;
    await sendAll(stack, apiKey, MESSAGES, tag);
    const started = performance.now();
    await Promise.all(Array.from({ length: workers }, () => stack.startWorker()));
    await waitFor(
      () => sentCount(stack, tag),
      (n) => n === MESSAGES,
      600_000,
      100,
    );
    const seconds = (performance.now() - started) / 1000;
    const atProvider = await providerCount(sim);
    return { workers, messages: MESSAGES, seconds, perSecond: MESSAGES / seconds, atProvider };
  } finally {
    await stack.close();
  }
}

async function recovery(sim: AppProcess): Promise<{ messages: number; outageSeconds: number; drainSeconds: number; atProvider: number }> {
  const stack = await startStack('bench-providers-recovery', {
    workers: 2,
    env: { PROVIDER_BASE_URL: sim.url, ADMIN_TOKEN: ADMIN, BUFFER_CAPACITY: '1000000' },
  });
  try {
    const { apiKey } = await stack.tenant('enterprise', { rpm: 100_000_000, burst: 100_000_000 });
    const put = await send(stack.api!.url, ADMIN, 'PUT', '/v1/admin/config', {
      breaker: { halfOpenAfterMs: HALF_OPEN_MS },
      worker: { maxAttempts: 100 },
    });
    if (put.status !== 200) throw new Error(`config not applied: ${JSON.stringify(put.body)}`);
    await send(sim.url, null, 'DELETE', '/received');
    await send(sim.url, null, 'PUT', '/control', { channel: 'sms', down: true });
    const outageStarted = performance.now();
    await sendAll(stack, apiKey, OUTAGE_MESSAGES, 'recovery');
    await waitFor(
      () => send(stack.workers[0]!.url, null, 'GET', '/health/ready'),
      (r) => (r.body as { checks: { breakers?: { sms?: string } } }).checks.breakers?.sms === 'open',
      60_000,
      100,
    );
    await send(sim.url, null, 'PUT', '/control', { channel: 'sms', down: false, latencyMs: 50, errorRate: 0.05 });
    const recovered = performance.now();
    await waitFor(
      () => sentCount(stack, 'recovery'),
      (n) => n === OUTAGE_MESSAGES,
      600_000,
      100,
    );
    const atProvider = await providerCount(sim);
    return {
      messages: OUTAGE_MESSAGES,
      outageSeconds: (recovered - outageStarted) / 1000,
      drainSeconds: (performance.now() - recovered) / 1000,
      atProvider,
    };
  } finally {
    await stack.close();
  }
}

const sim = await startApp('provider-sim', { PROVIDER_SIM_PORT: '0' });
try {
  await send(sim.url, null, 'PUT', '/control', { channel: 'sms', latencyMs: 50, errorRate: 0.05 });
  const one = await throughput(sim, 1);
  const two = await throughput(sim, 2);
  const back = await recovery(sim);
  const lines = [
    `# Providers: sms with 50 ms latency and 5% errors (${new Date().toISOString()})`,
    '',
    '| workers | messages | seconds | messages/s | at the provider (each once) |',
    '| ---: | ---: | ---: | ---: | ---: |',
    ...[one, two].map((r) => `| ${r.workers} | ${r.messages} | ${r.seconds.toFixed(1)} | ${Math.round(r.perSecond)} | ${r.atProvider} |`),
    '',
    `Recovery: ${back.messages} messages sent while the provider was down (${back.outageSeconds.toFixed(1)} s, breakers open), ` +
      `2 workers, breaker.halfOpenAfterMs ${HALF_OPEN_MS}: backlog drained ${back.drainSeconds.toFixed(1)} s after the provider came back; ` +
      `${back.atProvider} accepted by the provider.`,
    '',
    'Per worker and channel, PROVIDER_CONCURRENCY (16) calls are in flight: at 50 ms a call, 320 calls/s per worker at most.',
  ];
  console.log(lines.join('\n'));
  const stamp = resultStamp(new Date());
  writeResult(`providers-${stamp}.md`, `${lines.join('\n')}\n`);
  writeResult(
    `providers-${stamp}.json`,
    JSON.stringify({ throughput: [one, two], recovery: back, halfOpenAfterMs: HALF_OPEN_MS }, null, 2),
  );
} finally {
  await sim.stop();
}
