/**
 * `node bench/ingest/api-flags.ts`: the api's Node flags (V8's young generation) against each
 * other, to back the flags the api ships with. Not part of `pnpm test` or `pnpm bench`.
 *
 * API_FLAGS_ROUNDS (4) rounds through the variants, every other one in reverse order, so
 * that the machine's drift falls on all of them alike, a worker storing throughout:
 * 1. API_FLAGS_SECONDS (10) of load at 200 connections on a new api process (offered
 *    API_FLAGS_RATE req/s; 0, the default: as fast as it answers): its CPU s
 *    per 1,000 and the share of it its garbage collector's pauses took;
 * 2. then 10,000 requests on 10,000 new connections: p99 and its peak RSS;
 * 3. the same burst against two new api processes on one port (API_REUSE_PORT, one per
 *    core, as docs/operations.md deploys them on a host), warmed for 6 s: p99 and each one's
 *    peak RSS.
 *
 * API_FLAGS_VARIANTS: JSON, a name → Node flags map (default: semi-spaces of 8, 16 and 32 MiB).
 * Writes bench/results/api-flags-<date>.md and .json.
 */
import { startApp, startStack, type AppProcess } from '@esh3ar/stack';
import { newConnectionBurst } from './burst.ts';
import { sustained, type Target } from '../lib/load.ts';
import { scrape, total } from '../lib/metrics-scrape.ts';
import { cpuSeconds, median, peaksDuring } from '../lib/proc-stats.ts';
import { resultStamp, writeResult } from '../lib/results.ts';

const VARIANTS = JSON.parse(
  process.env.API_FLAGS_VARIANTS ??
    '{"semi 8":["--max-semi-space-size=8"],"semi 16":["--max-semi-space-size=16"],"semi 32":["--max-semi-space-size=32"]}',
) as Record<string, string[]>;
const ROUNDS = Number(process.env.API_FLAGS_ROUNDS ?? 4);
const SECONDS = Number(process.env.API_FLAGS_SECONDS ?? 10);
const RATE = Number(process.env.API_FLAGS_RATE ?? 0);
const BURST = 10_000;

interface Round {
  variant: string;
  requestsPerSecond: number;
  cpuSecondsPer1000: number;
  gcShare: number;
  oneApi: { ok: number; p99Ms: number; peakRssMiB: number };
  twoApis: { ok: number; p99Ms: number; peakRssMiB: [number, number] };
}

/** Seconds the process's garbage collector has paused it so far (prom-client's GC histogram). */
const gcSeconds = async (api: AppProcess) => total(await scrape(api.url), 'esh3ar_nodejs_gc_duration_seconds_sum');

/** Peak RSS of each process over `run` alone. */
async function peaksOf<T>(apis: readonly AppProcess[], run: () => Promise<T>): Promise<[T, number[]]> {
  const [result, peaks] = await peaksDuring(
    apis.map((api) => api.pid),
    run,
  );
  if (peaks === null) throw new Error('VmHWM cannot be reset here (/proc/<pid>/clear_refs): no peak RSS to measure');
  return [result, peaks];
}

const stack = await startStack('api-flags', { api: false, workers: 1, env: { BUFFER_CAPACITY: '100000000', API_REUSE_PORT: 'on' } });
const rounds: Round[] = [];
try {
  const { apiKey } = await stack.tenant('enterprise', { rpm: 2_000_000_000, burst: 2_000_000_000 });
  for (let round = 1; round <= ROUNDS; round++) {
    // Every other round in the reverse order: no variant always runs first or last.
    const order = round % 2 === 1 ? Object.entries(VARIANTS) : Object.entries(VARIANTS).reverse();
    for (const [variant, nodeFlags] of order) {
      const target = (api: AppProcess): Target => ({
        name: variant,
        url: api.url,
        path: '/v1/messages',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
        body: JSON.stringify({ recipient: '+966501234567', content: 'Your verification code is 482913' }),
      });
      // Fresh processes for each burst: V8 keeps what a burst made it commit for a while,
      // and a peak counted from there would measure the history, not the burst.
      const one = await startApp('api', stack.env, { nodeFlags });
      let load: Awaited<ReturnType<typeof sustained>>;
      let cpu: number;
      let gc: number;
      let oneBurst: Awaited<ReturnType<typeof newConnectionBurst>>;
      let oneRss: number[];
      try {
        await sustained(target(one), { connections: 200, seconds: 3 }); // JIT warm-up
        const cpu0 = cpuSeconds(one.pid);
        const gc0 = await gcSeconds(one);
        load = await sustained(target(one), { connections: 200, seconds: SECONDS, overallRate: RATE });
        cpu = cpuSeconds(one.pid) - cpu0;
        gc = (await gcSeconds(one)) - gc0;
        [oneBurst, oneRss] = await peaksOf([one], () => newConnectionBurst(target(one), BURST));
      } finally {
        await one.stop('SIGTERM');
      }
      const first = await startApp('api', stack.env, { nodeFlags });
      const second = await startApp('api', { ...stack.env, API_PORT: String(first.port) }, { nodeFlags }).catch(async (error: unknown) => {
        await first.stop('SIGTERM');
        throw error;
      });
      let twoBurst: Awaited<ReturnType<typeof newConnectionBurst>>;
      let twoRss: number[];
      try {
        await sustained(target(first), { connections: 200, seconds: 6 }); // both JITs, over the shared port
        [twoBurst, twoRss] = await peaksOf([first, second], () => newConnectionBurst(target(first), BURST));
      } finally {
        await Promise.all([first.stop('SIGTERM'), second.stop('SIGTERM')]);
      }
      const r: Round = {
        variant,
        requestsPerSecond: load.requestsPerSecond,
        cpuSecondsPer1000: cpu / (load.ok / 1000),
        gcShare: gc / cpu,
        oneApi: { ok: oneBurst.ok, p99Ms: oneBurst.latencyMs.p99, peakRssMiB: oneRss[0]! },
        twoApis: { ok: twoBurst.ok, p99Ms: twoBurst.latencyMs.p99, peakRssMiB: [twoRss[0]!, twoRss[1]!] },
      };
      rounds.push(r);
      console.log(
        `round ${round} ${variant}: ${r.requestsPerSecond} req/s, ${r.cpuSecondsPer1000.toFixed(4)} CPU s/1000, GC ${(100 * r.gcShare).toFixed(1)}%; ` +
          `burst, 1 api: ${r.oneApi.ok} ok, p99 ${r.oneApi.p99Ms} ms, ${r.oneApi.peakRssMiB} MiB; 2 apis: ${r.twoApis.ok} ok, p99 ${r.twoApis.p99Ms} ms, ${r.twoApis.peakRssMiB.join(' + ')} MiB`,
      );
    }
  }
} finally {
  await stack.close();
}

const lines = [
  `# The api's Node flags, ${ROUNDS} alternating rounds (medians; each round's figures in the .json)`,
  '',
  `A worker stores throughout. Load: 200 connections for ${SECONDS} s${RATE > 0 ? `, offered ${RATE} req/s` : ''}. Burst: ${BURST.toLocaleString('en')} requests on new connections.`,
  '',
  '| flags | req/s | api CPU s per 1,000 | GC pauses, share of api CPU | burst, 1 api: p99 | peak RSS | burst, 2 apis: p99 | peak RSS of each |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const [variant, flags] of Object.entries(VARIANTS)) {
  const mine = rounds.filter((r) => r.variant === variant);
  const m = (pick: (r: Round) => number) => median(mine.map(pick));
  lines.push(
    `| ${variant} (\`${flags.join(' ') || 'none'}\`) | ${Math.round(m((r) => r.requestsPerSecond))} | ${m((r) => r.cpuSecondsPer1000).toFixed(4)} | ${(100 * m((r) => r.gcShare)).toFixed(1)}% | ` +
      `${Math.round(m((r) => r.oneApi.p99Ms))} ms | ${Math.round(m((r) => r.oneApi.peakRssMiB))} MiB (${Math.min(...mine.map((r) => r.oneApi.peakRssMiB))}–${Math.max(...mine.map((r) => r.oneApi.peakRssMiB))}) | ` +
      `${Math.round(m((r) => r.twoApis.p99Ms))} ms | ${Math.round(m((r) => Math.max(...r.twoApis.peakRssMiB)))} MiB (${Math.min(...mine.flatMap((r) => r.twoApis.peakRssMiB))}–${Math.max(...mine.flatMap((r) => r.twoApis.peakRssMiB))}) |`,
  );
}
lines.push('', 'Peak RSS of each of two: the median over rounds of the larger of the two; the range covers both processes of every round.');
console.log(lines.join('\n'));
const stamp = resultStamp(new Date());
writeResult(`api-flags-${stamp}.md`, `${lines.join('\n')}\n`);
writeResult(`api-flags-${stamp}.json`, JSON.stringify({ variants: VARIANTS, seconds: SECONDS, rate: RATE, burst: BURST, rounds }, null, 2));
