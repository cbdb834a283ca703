/**
 * What admission costs: the api's sustained throughput with the rate limiter (one Lua
 * call per tenant and event-loop tick) and the backpressure check on, as deployed, against the same api
 * with API_RATE_LIMIT=off API_BACKPRESSURE=off, in the same run, on the same stack.
 * The two processes run side by side and are loaded in turn (on, off, on, off, …), so
 * that drift of the machine falls on both. Not part of `pnpm test` or `pnpm bench`:
 *
 *   node bench/ingest/limiter-overhead.ts
 *
 * LIMITER_SECONDS (5) per turn, LIMITER_ROUNDS (3), LIMITER_CONNECTIONS (100).
 */
import { execFileSync } from 'node:child_process';
import { REPO_ROOT, startApp, startStack, type AppProcess, type Stack } from '@esh3ar/stack';
import { sustained, type SustainedResult } from '../lib/load.ts';

function setting(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number ≥ 1, got ${process.env[name]}`);
  return value;
}

const seconds = setting('LIMITER_SECONDS', 5);
const rounds = setting('LIMITER_ROUNDS', 3);
const connections = setting('LIMITER_CONNECTIONS', 100);
const log = (text: string) => process.stderr.write(`limiter-overhead: ${text}\n`);
const mean = (values: number[]) => Math.round(values.reduce((a, b) => a + b, 0) / values.length);

execFileSync('bash', ['scripts/services.sh'], { cwd: REPO_ROOT, stdio: 'inherit' });
let stack: Stack | undefined;
let unprotected: AppProcess | undefined;
try {
  // No worker: storage would take CPU from whichever api is loaded. The buffer is made
  // large enough that backpressure never refuses (the check runs, and admits).
  stack = await startStack('limiter-overhead', { env: { BUFFER_CAPACITY: '100000000' } });
  unprotected = await startApp('api', { ...stack.env, API_RATE_LIMIT: 'off', API_BACKPRESSURE: 'off' });
  // Limits no request reaches: the limiter does all its work and admits.
  const { apiKey } = await stack.tenant('enterprise', { rpm: 2_000_000_000, burst: 2_000_000_000 });
  const request = {
    path: '/v1/messages',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ recipient: '+966501234567', content: 'Your verification code is 482913' }),
  };
  const targets = {
    on: { name: 'protected', url: stack.api!.url, ...request },
    off: { name: 'unprotected', url: unprotected.url, ...request },
  };

  log('warm-up, 2 s each');
  for (const target of Object.values(targets)) await sustained(target, { connections, seconds: 2 });

  const results: Record<'on' | 'off', SustainedResult[]> = { on: [], off: [] };
  for (let round = 1; round <= rounds; round++) {
    for (const which of round % 2 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
      const result = await sustained(targets[which], { connections, seconds });
      if (result.non2xx > 0 || result.errors > 0)
        throw new Error(`${which}: ${result.non2xx} non-2xx, ${result.errors} errors: ${JSON.stringify(result.statusCodes)}`);
      results[which].push(result);
      log(`round ${round}, limiter ${which}: ${result.requestsPerSecond} req/s, p99 ${result.latencyMs.p99} ms`);
    }
  }
  const on = mean(results.on.map((r) => r.requestsPerSecond));
  const off = mean(results.off.map((r) => r.requestsPerSecond));
  const summary = {
    connections,
    secondsPerTurn: seconds,
    rounds,
    requestsPerSecond: { limiterAndBackpressureOn: on, off },
    ratioOnToOff: Math.round((on / off) * 1000) / 1000,
    p99Ms: { on: mean(results.on.map((r) => r.latencyMs.p99)), off: mean(results.off.map((r) => r.latencyMs.p99)) },
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
} finally {
  await unprotected?.stop('SIGTERM');
  await stack?.close();
}
