/**
 * Where the api's CPU goes under sustained load, and what Redis spends per message
 * (INFO commandstats): starts a stack (workers optional),
 * an api with --cpu-prof, loads it, stops it gracefully (which writes the profile)
 * and prints self time grouped by package and the top functions. Not part of
 * `pnpm bench`:
 *
 *   node bench/ingest/profile-api.ts   PROFILE_SECONDS (10), PROFILE_CONNECTIONS (200),
 *                                      PROFILE_WORKERS (0), PROFILE_ENV (JSON: extra api environment),
 *                                      PROFILE_RATE (req/s offered; 0, the default: as fast as it answers)
 */
import { Redis } from 'ioredis';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp, startStack } from '@esh3ar/stack';
import { sustained } from '../lib/load.ts';
import { summarizeCpuProfile } from '../lib/cpu-profile.ts';
import { cpuSeconds } from '../lib/proc-stats.ts';

const seconds = Number(process.env.PROFILE_SECONDS ?? 10);
const connections = Number(process.env.PROFILE_CONNECTIONS ?? 200);
const rate = Number(process.env.PROFILE_RATE ?? 0);
const dir = mkdtempSync(join(tmpdir(), 'esh3ar-api-prof-'));

// PROFILE_WORKERS=1: a worker stores meanwhile, as in `pnpm bench`'s sustained phase.
const stack = await startStack('profile-api', {
  api: false,
  workers: Number(process.env.PROFILE_WORKERS ?? 0),
  env: { BUFFER_CAPACITY: '100000000' },
});
const redis = new Redis(stack.env.REDIS_URL!);
const api = await startApp('api', {
  ...stack.env,
  NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${dir}`,
  ...(JSON.parse(process.env.PROFILE_ENV ?? '{}') as Record<string, string>),
});
const { apiKey } = await stack.tenant('enterprise', { rpm: 2_000_000_000, burst: 2_000_000_000 });
const target = {
  name: 'api',
  url: api.url,
  path: '/v1/messages',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
  body: JSON.stringify({ recipient: '+966501234567', content: 'Your verification code is 482913' }),
};
await sustained(target, { connections, seconds: 2 });
await redis.config('RESETSTAT');
const before = cpuSeconds(api.pid);
const result = await sustained(target, { connections, seconds, overallRate: rate });
const used = cpuSeconds(api.pid) - before;
const commandstats = await redis.info('commandstats');
await redis.quit();
await api.stop('SIGTERM');
await stack.close();
const perThousand = result.ok / 1000;
console.log('redis commands: calls and CPU µs per 1000 accepted messages');
for (const line of commandstats.split('\r\n').filter((l) => l.startsWith('cmdstat_'))) {
  const m = /cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
  if (m)
    console.log(
      `  ${m[1]!.padEnd(20)} ${(Number(m[2]) / perThousand).toFixed(1).padStart(8)} calls ${(Number(m[3]) / perThousand).toFixed(0).padStart(8)} µs`,
    );
}
console.log(`${result.requestsPerSecond} req/s, p99 ${result.latencyMs.p99} ms, api CPU ${(used / (result.ok / 1000)).toFixed(4)} s/1000`);

console.log(['', ...summarizeCpuProfile(dir, [], 40)].join('\n'));
