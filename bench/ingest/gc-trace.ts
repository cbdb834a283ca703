/**
 * `node bench/ingest/gc-trace.ts`: what V8's garbage collector does in the api under a
 * steady load, per api process, for Node flag variants against each other. Not part of
 * `pnpm test` or `pnpm bench`.
 *
 * GC_TRACE_PROCESSES (6) new api processes per variant, started in turn (variant 1, 2, …,
 * 1, 2, …), each with `--trace-gc-nvp` added to its flags and a worker storing: 3 s of
 * warm-up, then GC_TRACE_SECONDS (10) of 200 connections offered GC_TRACE_RATE (5,000)
 * req/s. From the trace lines of the measured seconds: young-generation collections
 * (scavenges) and their pauses per request, bytes allocated and promoted to the old
 * generation per request, and full (mark-compact) collections. The pauses are the main
 * thread's; V8's helper threads work beside it.
 *
 * GC_TRACE_VARIANTS: JSON, a name → Node flags map (default: the api's flags as shipped,
 * and the same with V8's allocation-site pretenuring on).
 * Writes bench/results/gc-trace-<date>.md and .json.
 */
import { NODE_FLAGS, startApp, startStack, type AppProcess } from '@esh3ar/stack';
import { sustained, type Target } from '../lib/load.ts';
import { median } from '../lib/proc-stats.ts';
import { resultStamp, writeResult } from '../lib/results.ts';
import { OTP_BODY } from '../lib/until-stored.ts';

const shipped = [...NODE_FLAGS.api];
const VARIANTS = JSON.parse(
  process.env.GC_TRACE_VARIANTS ??
    JSON.stringify({
      'as shipped': shipped,
      'pretenuring on': [...shipped.filter((f) => f !== '--no-allocation-site-pretenuring'), '--allocation-site-pretenuring'],
    }),
) as Record<string, string[]>;
const PROCESSES = Number(process.env.GC_TRACE_PROCESSES ?? 6);
const SECONDS = Number(process.env.GC_TRACE_SECONDS ?? 10);
const RATE = Number(process.env.GC_TRACE_RATE ?? 5000);

interface Traced {
  variant: string;
  accepted: number;
  scavenges: number;
  scavengePauseMicrosPerRequest: number;
  allocatedBytesPerRequest: number;
  promotedBytesPerRequest: number;
  markCompacts: number;
}

/** `key=value` fields of one --trace-gc-nvp line. */
const fieldsOf = (line: string) => new Map([...line.matchAll(/(\w[\w.]*)=(\S+)/g)].map(([, k, v]) => [k!, v!]));

function summarize(variant: string, lines: readonly string[], accepted: number): Traced {
  const gcs = lines.map(fieldsOf).filter((f) => f.has('gc'));
  const scavenges = gcs.filter((f) => f.get('gc') === 's');
  const sum = (key: string) => scavenges.reduce((total, f) => total + Number(f.get(key) ?? 0), 0);
  return {
    variant,
    accepted,
    scavenges: scavenges.length,
    scavengePauseMicrosPerRequest: (sum('pause') * 1000) / accepted,
    allocatedBytesPerRequest: sum('allocated') / accepted,
    promotedBytesPerRequest: sum('promoted') / accepted,
    markCompacts: gcs.filter((f) => f.get('gc') === 'mc').length,
  };
}

const stack = await startStack('gc-trace', { api: false, workers: 1, env: { BUFFER_CAPACITY: '100000000' } });
const traced: Traced[] = [];
try {
  const { apiKey } = await stack.tenant('enterprise', { rpm: 2_000_000_000, burst: 2_000_000_000 });
  for (let i = 1; i <= PROCESSES; i++) {
    for (const [variant, flags] of Object.entries(VARIANTS)) {
      const api: AppProcess = await startApp('api', stack.env, { nodeFlags: [...flags, '--trace-gc-nvp'] });
      try {
        const target: Target = {
          name: variant,
          url: api.url,
          path: '/v1/messages',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
          body: OTP_BODY,
        };
        await sustained(target, { connections: 200, seconds: 3 });
        // The process's output so far: startApp keeps its last 2,000 lines, the trace's among them.
        const from = api.logs.length;
        const result = await sustained(target, { connections: 200, seconds: SECONDS, overallRate: RATE });
        const t = summarize(
          variant,
          api.logs.slice(from).map((l) => String(l.msg)),
          result.ok,
        );
        traced.push(t);
        console.log(
          `${i} ${variant}: ${t.scavenges} scavenges, ${t.scavengePauseMicrosPerRequest.toFixed(1)} µs paused per request, ` +
            `${t.allocatedBytesPerRequest.toFixed(0)} B allocated, ${t.promotedBytesPerRequest.toFixed(0)} B promoted, ${t.markCompacts} mark-compacts`,
        );
      } finally {
        await api.stop('SIGTERM');
      }
    }
  }
} finally {
  await stack.close();
}

const stamp = resultStamp(new Date());
const lines = [
  `# The api's garbage collector at ${RATE} req/s, ${PROCESSES} processes per variant`,
  '',
  `Each a new api process with --trace-gc-nvp, a worker storing, 200 connections for ${SECONDS} s after 3 s of warm-up; per accepted request, from the trace lines of those ${SECONDS} s. "Promoting" counts the processes that promoted more than 2 KB per request.`,
  '',
  '| variant (flags) | processes promoting | scavenge pauses µs per request: median (range) | promoted B per request: median (range) | allocated B per request: median | mark-compacts per process: median (range) |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
  ...Object.entries(VARIANTS).map(([variant, flags]) => {
    const of = traced.filter((t) => t.variant === variant);
    const range = (pick: (t: Traced) => number, digits: number) => {
      const values = of.map(pick);
      return `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;
    };
    return `| ${variant} (\`${flags.join(' ')}\`) | ${of.filter((t) => t.promotedBytesPerRequest > 2000).length} of ${of.length} | ${range((t) => t.scavengePauseMicrosPerRequest, 1)} | ${range((t) => t.promotedBytesPerRequest, 0)} | ${median(of.map((t) => t.allocatedBytesPerRequest)).toFixed(0)} | ${range((t) => t.markCompacts, 0)} |`;
  }),
];
console.log(['', ...lines].join('\n'));
writeResult(`gc-trace-${stamp}.md`, `${lines.join('\n')}\n`);
writeResult(`gc-trace-${stamp}.json`, JSON.stringify({ variants: VARIANTS, rate: RATE, seconds: SECONDS, traced }, null, 2));
