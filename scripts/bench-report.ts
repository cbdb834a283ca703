/**
 * The figures of docs/benchmarks.md, from the benchmark reports git keeps in bench/results/
 * (bench/README.md, "Results"): the results of `pnpm bench` with their ranges over the kept
 * runs, the api's Node flags, the storage levers and the capacity model's arithmetic. The
 * analysis around them is written by hand.
 *
 *   node scripts/bench-report.ts           print every block
 *   node scripts/bench-report.ts --write   replace the blocks between their markers in docs/benchmarks.md
 *
 * scripts/bench-report.test.ts fails when a block in the file differs from what this prints.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { capacityBlock } from './bench-capacity.ts';
import {
  benchRuns,
  GATEWAY_TAIL_SINCE,
  keptResults,
  lineOf,
  num,
  numbers,
  readReport,
  rowOf,
  SEMI_SPACE_16,
  sectionOf,
  TWO_NEW_APIS_SINCE,
  type Report,
} from './bench-results.ts';
import { targetsBlock } from './bench-targets.ts';

const ROOT = join(import.meta.dirname, '..');
const DOC = 'docs/benchmarks.md';

/** The api's `--max-semi-space-size` as shipped (start scripts, compose, Kubernetes; infra/infra.test.ts keeps them equal). */
const SHIPPED_SEMI_SPACE = 16;

/** A number as a report writes it, and its value. */
interface Figure {
  value: number;
  text: string;
}
const figures = (cell: string): Figure[] =>
  [...cell.matchAll(/-?\d[\d,]*(?:\.\d+)?/g)].map(([text]) => ({ text, value: Number(text.replaceAll(',', '')) }));
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** "lowest–highest<unit>" of the figures, as the reports write them. */
function span(cells: readonly string[], unit = ''): string {
  const all = cells.flatMap(figures).sort((a, b) => a.value - b.value);
  const [low, high] = [all[0], all.at(-1)];
  if (low === undefined || high === undefined) throw new Error('no figures to span');
  return low.value === high.value ? `${high.text}${unit}` : `${low.text}–${high.text}${unit}`;
}

const code = (file: string) => `\`${file}\``;
const list = (files: readonly string[]) => files.map(code).join(', ');

/** The newest kept report of a benchmark run by hand (`<prefix>-<time>.md`). */
function newest(kept: readonly string[], prefix: string): Report {
  const file = kept.filter((f) => f.startsWith(`${prefix}-`) && f.endsWith('.md')).at(-1);
  if (file === undefined) throw new Error(`no kept ${prefix}-*.md in bench/results`);
  return readReport(file);
}

const SUSTAINED = 'Sustained';
const BURST = 'Burst: 10,000 requests on 10,000 new connections';
const KEEP_ALIVE = 'Burst: 10,000 requests at once over 1,000 open';
const STORED = 'Accept → stored';
const DEVICE = 'Accept → device';
const HIGHEST = 'Highest rate one gateway sustains';

function resultsBlock(kept: readonly string[]): string[] {
  const all = benchRuns(kept);
  const intake = all.filter((r) => sectionOf(r, SUSTAINED) !== undefined);
  const gateway = all.filter((r) => sectionOf(r, DEVICE) !== undefined);
  const tail = gateway.filter((r) => r.file >= GATEWAY_TAIL_SINCE);
  const semi16 = intake.filter((r) => SEMI_SPACE_16(r.file));
  const twoNew = intake.filter((r) => r.file >= TWO_NEW_APIS_SINCE);
  const q = intake.at(-1);
  if (q === undefined) throw new Error('no kept report of pnpm bench in bench/results');
  const over = (runs: Report[], heading: string, label: string, column: number, index = 0) =>
    runs.map((r) => rowOf(r, heading, label, index)[column]!);

  const sustained = (label: string) => rowOf(q, SUSTAINED, label);
  const burst = (label: string) => rowOf(q, BURST, label);
  const keepAlive = (label: string) => rowOf(q, KEEP_ALIVE, label);
  const [single, batches] = ['POST /v1/messages,', 'POST /v1/messages/batch'].map((label) => rowOf(q, STORED, label));
  const cost = (label: string) => rowOf(q, 'Cost per 1000', label)[1]!;
  // The cost phase (runs since it was added): CPU per message with both offered the same rate.
  const SAME_RATE = 'Cost at the same offered rate';
  // Its rows for the shape's floor (runs since it was added; bench/lib/floor-server.ts).
  const [FLOOR_API, FLOOR_STORED] = ['the shape’s floor: its api', 'the shape’s floor until stored'];
  const sameRate = sectionOf(q, SAME_RATE) === undefined ? undefined : (label: string) => rowOf(q, SAME_RATE, label);
  const sameRateOffered = /\(([\d,]+ req\/s)\)/.exec([...q.sections.keys()].find((t) => t.startsWith(SAME_RATE)) ?? '')?.[1];
  const device = (timeout: string) => rowOf(q, DEVICE, timeout);
  const highest = lineOf(q, HIGHEST, /Highest sustained rate: ([\d,]+) msg\/s/)[1]!;
  const atHighest = sectionOf(q, HIGHEST)!.tables[0]!.find((cells) => cells[0] === highest)!;
  const accepted = (cell: string) => cell.split(' / ')[0];
  const backlogMax = (cell: string) => numbers(cell)[1];
  const verdict = (cell: string) => cell.split(',')[0];

  const table = [
    '| figure | ceiling | Esh3ar | ratio | goal |',
    '| --- | ---: | ---: | ---: | --- |',
    `| sustained, 200 connections, 20 s: req/s | ${sustained('req/s')[1]} | ${sustained('req/s')[2]} | ${sustained('req/s')[3]} (${span(over(intake, SUSTAINED, 'req/s', 3), '×')}) | ≥ 0.8× |`,
    `| sustained: p50 / p99 | ${num(sustained('latency p50')[1]!)} / ${sustained('latency p99')[1]} | ${num(sustained('latency p50')[2]!)} / ${sustained('latency p99')[2]} | | |`,
    `| 10,000 requests on 10,000 new connections: accepted, p99 | ${accepted(burst('2xx')[1]!)}, ${burst('latency p99')[1]} | ${accepted(burst('2xx')[2]!)}, ${burst('latency p99')[2]} | ${burst('latency p99')[3]} (${span(over(intake, BURST, 'latency p99', 3), '×')}) | ≤ 1.25× |`,
    `| the same with 2 api processes on one port: p99 | | ${burst('latency p99')[4]} | ${burst('latency p99')[5]} (${span(over(intake, BURST, 'latency p99', 5), '×')}) | |`,
    `| 10,000 requests over 1,000 open connections: p99 | ${keepAlive('latency p99')[1]} | ${keepAlive('latency p99')[2]} (2 api: ${keepAlive('latency p99')[4]}) | ${keepAlive('latency p99')[3]} (${span(over(intake, KEEP_ALIVE, 'latency p99', 2), ' ms')}; the ceiling ${span(over(intake, KEEP_ALIVE, 'latency p99', 1), ' ms')}) | < 500 ms |`,
    `| api peak RSS during the 10,000-connection burst | ${burst('server peak RSS')[1]} | ${burst('server peak RSS')[2]} (${span(over(semi16, BURST, 'server peak RSS', 2), ' MiB')}) | ${burst('server peak RSS')[3]} | ≤ 300 MB (286 MiB) |`,
    `| the same, each of 2 new api processes on one port | | ${burst('server peak RSS')[4]} (${span(over(twoNew, BURST, 'server peak RSS', 4), ' MiB')} over ${twoNew.length} runs) | | |`,
    `| the same during the keep-alive burst | ${keepAlive('server peak RSS')[1]} | ${keepAlive('server peak RSS')[2]} (2 api: ${keepAlive('server peak RSS')[4]}) | ${keepAlive('server peak RSS')[3]} | |`,
    `| accept → stored, 60 s at 10,000 msg/s offered, batches of 100 | | ${batches![1]} accepted/s, ${batches![2]} stored/s, backlog ${backlogMax(batches![5]!)}, ${verdict(batches![8]!)} | | ≥ 10k msg/s, flat |`,
    `| the same as single requests (200 connections) | | ${single![1]} accepted/s, ${single![2]} stored/s, backlog ≤ ${fmt(backlogMax(single![5]!)!)}, ${verdict(single![8]!)} (accepted ${span(over(intake, STORED, 'POST /v1/messages,', 1), '/s')}, stored ${span(over(intake, STORED, 'POST /v1/messages,', 2), '/s')}) | | |`,
    `| CPU s per 1,000 messages | ${cost('ceiling')} | api ${cost('api')}, worker ${cost('worker')}, Redis ${cost('redis-server')}, PostgreSQL ${cost('postgres')} (${cost('Esh3ar in all')} in all; ${span(over(intake, 'Cost per 1000', 'Esh3ar in all', 1))} over the runs) | | |`,
    ...(sameRate === undefined
      ? []
      : [
          `| the same, both offered ${sameRateOffered} (the cost phase) | ${sameRate('ceiling')[2]} | api ${sameRate('api')[2]} (${sameRate('api')[3]}), worker ${sameRate('worker')[2]}, Redis ${sameRate('redis-server')[2]}, PostgreSQL ${sameRate('postgres')[2]} (${sameRate('until stored')[2]} in all, ${sameRate('until stored')[3]}) | | api ≤ 1.3×, in all ≤ 2.0× |`,
          ...(sectionOf(q, SAME_RATE)!.tables[0]!.some((cells) => cells[0]!.startsWith(FLOOR_API))
            ? [
                `| the shape’s floor, the same rounds (below) | | api ${sameRate(FLOOR_API)[2]} (${sameRate(FLOOR_API)[3]}), until stored ${sameRate(FLOOR_STORED)[2]} (${sameRate(FLOOR_STORED)[3]}) | | |`,
              ]
            : []),
        ]),
    `| gateway memory per connected device (10,000) | | ${rowOf(q, 'Gateway: 10,000 devices', 'RSS')[3]} RSS (${span(over(gateway, 'Gateway: 10,000 devices', 'RSS', 3), ' KiB')}) | | ≤ 16 KB |`,
    `| accept → device p99 at 1,000 msg/s, 10,000 devices | | ${device('100 ms')[8]} at \`worker.batchTimeoutMs\` 100, the default (${span(over(tail, DEVICE, '100 ms', 8), ' ms')}); ${device('5 ms')[8]} at 5 (${span(over(tail, DEVICE, '5 ms', 8), ' ms')}) | | ≤ 100 ms |`,
    `| highest rate one gateway sustains | | ${highest} msg/s (${atHighest[8] === '0' ? 'all delivered' : `${atHighest[8]} lost`}, p99 ${atHighest[6]}, machine ${atHighest[16]} busy); ${span(gateway.map((r) => lineOf(r, HIGHEST, /Highest sustained rate: ([\d,]+)/)[1]!))} over the runs | | |`,
  ];

  const integrity = sectionOf(q, 'Every 2xx stored exactly once')!.tables[0]![0]!;
  const [answered, rows, distinct, stored, without] = integrity.map((c) => c);
  const delivery = sectionOf(q, 'Every 202 delivered')!.tables[0]![0]!;
  const repushes = ['100 ms', '5 ms'].reduce((sum, t) => sum + num(device(t)[4]!), 0);
  const direct = rowOf(q, 'Storage', 'direct storeBatch')[1]!;
  const worker = rowOf(q, 'Storage', 'worker, steady');
  const stages = rowOf(q, DEVICE, '100 ms', 1);
  const [gcMinor] = stages[8]!.split(' / ');
  const p50s = gateway.flatMap((r) => ['100 ms', '5 ms'].map((t) => rowOf(r, DEVICE, t)[6]!));
  const keepAliveCeilings = intake
    .map((r) => ({ file: r.file, p99: rowOf(r, KEEP_ALIVE, 'latency p99')[1]! }))
    .sort((a, b) => num(a.p99) - num(b.p99));
  const [fastest, slowest] = [keepAliveCeilings[0]!, keepAliveCeilings.at(-1)!];
  const ceilings = over(intake, SUSTAINED, 'req/s', 1);

  return [
    `From ${code(`bench/results/${q.file}`)}: the whole of \`pnpm bench\` as configured now, on ${q.machine.split('. ')[0]!.replace(/, Linux .*/, '')}. The load`,
    'generator, the ceiling or Esh3ar (1 api, 1 worker, 1 gateway), Redis and PostgreSQL all share the same cores, so',
    `ratios matter more than absolute figures. The ceiling measured ${span(ceilings, ' req/s').replace('–', ' to ')} over the ${intake.length} full`,
    `runs kept (${list(intake.map((r) => r.file))}); ranges in brackets are over those runs, except: the gateway's`,
    `(${gateway.length} runs, with the gateway-only ${list(gateway.filter((r) => !intake.includes(r)).map((r) => r.file))}) and, for its tail, the ${tail.length} runs with one presence beat per gateway and spread`,
    `pings (${code(GATEWAY_TAIL_SINCE)} and after); the api's memory, over the ${semi16.length} runs with its semi-spaces at 16 MiB`,
    `(${list(semi16.map((r) => r.file))}); each of 2 new api processes, over the ${twoNew.length} runs since ${code(TWO_NEW_APIS_SINCE)} (before, the`,
    'first of the two had been through the bursts before, and its peak counted what V8 kept from them).',
    '',
    ...table,
    '',
    `- Every 2xx of the run stored exactly once: ${answered} answered ids, ${stored === answered ? 'all stored' : `${stored} stored`}, ${rows === distinct ? 'no id twice' : `${num(rows!) - num(distinct!)} ids twice`}`,
    `  (${without} further rows belong to requests whose answer the load generator cut off at the end of a timed phase; the`,
    `  check accounts for each). In the gateway phase ${delivery[1]} of ${delivery[0]} messages ended \`delivered\`, ${delivery[3]} not stored; re-pushes at 1,000 msg/s: ${repushes}.`,
    `- Storage: one worker drains a preloaded buffer of 100,000 at ${worker[1]} rows/s against ${direct} for the COPY writer`,
    `  called directly (${worker[2]}; ${span(over(intake, 'Storage', 'worker, steady', 2), '×')} over the runs).`,
    `- Accept → device at 1,000 msg/s: p50 ${span(p50s, ' ms')} in every run. Where the time goes (the run above, default batch`,
    `  timeout): request → accepted ${stages[1]} (p50), accepted → stored ${stages[2]!.replace(' / ', ' mean (p99 ')}),`,
    `  accepted → pushed to the socket ${stages[3]!.replace(' / ', ' mean (p99 ')}). The gateway's longest event-loop stall was ${stages[7]!.split(' / ')[0]}`,
    `  (${gcMinor!.replace('× ', ' young-generation collections, ')} in all, in 20 s), the device thread's ${device('100 ms')[12]!.split(' / ')[1]}.`,
    `- Over the keep-alive connections the ceiling itself took ${span(
      keepAliveCeilings.map((c) => c.p99),
      ' ms',
    )} over the runs (${keepAlive('latency p99')[1]} in this`,
    `  one, ${fastest.p99} in ${code(fastest.file)}, ${slowest.p99} in ${code(slowest.file)}): the two servers' tails are as much the machine's as their own.`,
    '',
    `![Throughput and latency per second, ceiling and Esh3ar](../bench/results/${q.file.replace(/\.md$/, '.svg')})`,
  ];
}

/** The kept api-flags reports: semi-space sizes against each other, or other flags. */
const apiFlagReports = (kept: readonly string[], semiSpacesOnly: boolean) =>
  kept.filter((f) => f.startsWith('api-flags-') && f.endsWith('.md') && isSemiSpaceRun(f) === semiSpacesOnly);

/** Every variant of the run is a semi-space size alone ("semi 16 (`--max-semi-space-size=16`)"). */
function isSemiSpaceRun(file: string): boolean {
  const rows = sectionOf(readReport(file), '')?.tables[0] ?? [];
  return rows.length > 0 && rows.every((cells) => /^semi \d+ \(`--max-semi-space-size=\d+`\)$/.test(cells[0]!));
}

function apiFlagsBlock(kept: readonly string[]): string[] {
  const report = newest(apiFlagReports(kept, true), 'api-flags');
  const rows = sectionOf(report, '')?.tables[0] ?? [];
  return [
    `\`node bench/ingest/api-flags.ts\` (${code(`bench/results/${report.file}`)}; a worker storing, rounds alternating the`,
    'sizes so that the machine’s drift falls on all of them, new processes for every burst), medians:',
    '',
    '| semi-space | api CPU s per 1,000 | GC pauses, share of it | 10,000-connection burst, 1 api: p99, peak RSS | 2 api processes on one port: p99, peak RSS of the larger |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows.map((cells) => {
      const size = num(cells[0]!);
      const name = size === SHIPPED_SEMI_SPACE ? `**${size} MiB** (shipped)` : `${size} MiB`;
      return `| ${name} | ${fmt(num(cells[2]!), 3)} | ${fmt(num(cells[3]!))}% | ${fmt(num(cells[4]!))} ms, ${cells[5]} | ${fmt(num(cells[6]!))} ms, ${cells[7]} |`;
    }),
  ];
}

function leversBlock(kept: readonly string[]): string[] {
  const report = newest(kept, 'levers');
  const rows = sectionOf(report, '')?.tables[0] ?? [];
  return [
    `\`node bench/storage/levers.ts\` (${code(`bench/results/${report.file}`)}), \`storeBatch\` of 100,000 rows, median of 3 rounds:`,
    '',
    '| the worker’s write path | rows/s | vs as Esh3ar runs |',
    '| --- | ---: | ---: |',
    ...rows.map((cells) => `| ${cells[0]} | ${cells[1]} | ${cells[2]} |`),
  ];
}

/** A kept report as it stands, its title (less `titleLead`) after the file name. */
function standing(file: string, titleLead: RegExp): string[] {
  const [title = '', ...body] = readFileSync(join(ROOT, 'bench/results', file), 'utf8')
    .trim()
    .split('\n');
  return [`${code(`bench/results/${file}`)}: ${title.replace(titleLead, '')}.`, ...body];
}

/** The newest kept report of a benchmark run by hand, as it stands. */
const asItStands = (kept: readonly string[], prefix: string, titleLead: RegExp) => standing(newest(kept, prefix).file, titleLead);

/** The newest kept providers report: its format follows bench/providers/sms-channel.ts. */
const providersBlock = (kept: readonly string[]) => asItStands(kept, 'providers', /^# Providers: /);

/** The newest kept scheduling report: its format follows bench/scheduling/release.ts. */
const schedulingBlock = (kept: readonly string[]) => asItStands(kept, 'scheduling', /^# Scheduled messages: /);

/** One block of every kept report of a benchmark run by hand, oldest first, each as it stands. */
function allAsTheyStand(kept: readonly string[], prefix: string): string[] {
  const files = kept.filter((f) => f.startsWith(`${prefix}-`) && f.endsWith('.md'));
  if (files.length === 0) throw new Error(`no kept ${prefix}-*.md in bench/results`);
  return files.flatMap((file, i) => [...(i === 0 ? [] : ['']), ...standing(file, /^# /)]);
}

/**
 * Every kept CPU-per-message report, oldest first (bench/ingest/cost.ts): one run is within
 * the machine's noise, so the runs are shown side by side.
 */
const costBlock = (kept: readonly string[]) => allAsTheyStand(kept, 'cost');

/** Every kept Redis Cluster report, oldest first (bench/capacity/cluster.ts): a run before a change and one after. */
const clusterBlock = (kept: readonly string[]) => allAsTheyStand(kept, 'cluster');

/** The newest kept api-flags run of other flags than semi-space sizes, as it stands. */
const apiPretenuringBlock = (kept: readonly string[]) => asItStands(apiFlagReports(kept, false), 'api-flags', /^# /);

/** The newest kept GC trace of the api (bench/ingest/gc-trace.ts), as it stands. */
const gcTraceBlock = (kept: readonly string[]) => asItStands(kept, 'gc-trace', /^# /);

/** The newest kept gateway delivery report: its format follows bench/gateway/per-delivery.ts. */
const gatewayDeliveryBlock = (kept: readonly string[]) => asItStands(kept, 'gateway-delivery', /^# /);

/** Each block by its name, as it stands between `<!-- generated by scripts/bench-report.ts: <name> begin/end -->`. */
export function renderBlocks(kept: readonly string[] = keptResults()): Map<string, string> {
  const blocks = {
    results: resultsBlock,
    providers: providersBlock,
    scheduling: schedulingBlock,
    cost: costBlock,
    'gateway-delivery': gatewayDeliveryBlock,
    'api-flags': apiFlagsBlock,
    'api-pretenuring': apiPretenuringBlock,
    'gc-trace': gcTraceBlock,
    levers: leversBlock,
    capacity: capacityBlock,
    cluster: clusterBlock,
    targets: targetsBlock,
  };
  return new Map(
    Object.entries(blocks).map(([name, render]) => [
      name,
      [
        `<!-- generated by scripts/bench-report.ts: ${name} begin -->`,
        '',
        ...render(kept),
        '',
        `<!-- generated by scripts/bench-report.ts: ${name} end -->`,
      ].join('\n'),
    ]),
  );
}

function main(): void {
  const blocks = renderBlocks();
  if (!process.argv.includes('--write')) {
    process.stdout.write(`${[...blocks.values()].join('\n\n')}\n`);
    return;
  }
  const path = join(ROOT, DOC);
  let doc = readFileSync(path, 'utf8');
  for (const block of blocks.values()) {
    const [begin, end] = [block.split('\n')[0]!, block.split('\n').at(-1)!];
    const start = doc.indexOf(begin);
    const stop = doc.indexOf(end);
    if (start === -1 || stop < start) throw new Error(`${DOC} has no ${begin} … ${end} block`);
    doc = doc.slice(0, start) + block + doc.slice(stop + end.length);
  }
  writeFileSync(path, doc);
}

if (import.meta.main) main();
