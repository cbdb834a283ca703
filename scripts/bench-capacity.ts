/**
 * The capacity model of docs/benchmarks.md: cores per tier at a target rate, as arithmetic
 * from the CPU each process spent per 1,000 messages in a kept run of `pnpm bench`. The
 * deployment choices around the figures (replicas, shards, disks) are judgement, written
 * here beside the arithmetic; the figures are computed.
 */
import { benchRuns, GATEWAY_TAIL_SINCE, lineOf, num, readReport, rowOf, sectionOf, type Report } from './bench-results.ts';

/** The run whose CPU costs the model uses: each process alone in its tier, at like machine speed. */
const CAPACITY_RUN = '2026-11-22T23-52-52Z.md';

const TIERS = [
  {
    tier: 'api',
    row: 'api',
    unit: '',
    notes: 'stateless: scale out behind nginx / a Service (HPA on CPU); on one host, one process per core with `API_REUSE_PORT=on`',
  },
  { tier: 'worker', row: 'worker', unit: '', notes: 'scale on backlog (KEDA on `esh3ar_buffer_depth_messages` / `esh3ar_queue_jobs`)' },
  { tier: 'Redis', row: 'redis-server', unit: '', notes: 'single-threaded: one instance is one core' },
  { tier: 'PostgreSQL', row: 'postgres', unit: ' of CPU', notes: 'plus the WAL and index writes: disk-bound before CPU-bound' },
] as const;

/** What each target takes besides cores; `{api}`, `{worker}`, `{redis}`, `{postgres}` are the cores the costs give. */
const TARGETS = [
  {
    rate: 10_000,
    cells: ['2 replicas (~{api} core)', '1–2 (~{worker} core)', '1 instance (~{redis} core)', '1 primary, ~{postgres} core, SSD', '2'],
  },
  {
    rate: 50_000,
    cells: [
      '5 replicas (~{api} cores)',
      '2 (~{worker} cores)',
      '2 shards: ~{redis} cores of Redis is one instance past its limit',
      '~{postgres} cores; fast NVMe; partition `messages` by time',
      '5–6',
    ],
  },
  {
    rate: 100_000,
    cells: [
      '10 replicas (~{api} cores)',
      '4 (~{worker} cores)',
      '3 shards (~{redis} cores)',
      '~{postgres} cores, the COPY stream of several workers in parallel; partitioned',
      '10–12',
    ],
  },
];

const fmt = (n: number, digits: number) => n.toLocaleString('en-US', { maximumFractionDigits: digits });
const code = (file: string) => `\`${file}\``;
/** Two significant figures below one core (0.22), one decimal above (3.8). */
const cores = (n: number) => fmt(n, n < 1 ? 2 : 1);
const costs = (r: Report) => TIERS.map(({ row }) => rowOf(r, 'Cost per 1000', row)[1]!).join(', ');

export function capacityBlock(kept: readonly string[]): string[] {
  if (!kept.includes(CAPACITY_RUN)) throw new Error(`${CAPACITY_RUN}, the capacity model's run, is not kept in bench/results`);
  const runs = benchRuns(kept);
  const intake = runs.filter((r) => sectionOf(r, 'Cost per 1000') !== undefined);
  const total = (r: Report) => num(rowOf(r, 'Cost per 1000', 'Esh3ar in all')[1]!);
  const byTotal = [...intake].sort((a, b) => total(a) - total(b));
  const [cheapest, dearest, quoted] = [byTotal[0]!, byTotal.at(-1)!, intake.at(-1)!];
  const model = readReport(CAPACITY_RUN);
  const perCore = Object.fromEntries(TIERS.map(({ tier, row }) => [tier, num(rowOf(model, 'Cost per 1000', row)[1]!)]));
  const keys: Record<string, number> = { api: perCore.api!, worker: perCore.worker!, redis: perCore.Redis!, postgres: perCore.PostgreSQL! };

  const gateway = runs.filter((r) => r.file >= GATEWAY_TAIL_SINCE && sectionOf(r, 'Accept → device') !== undefined);
  const micros = gateway.flatMap((r) => [
    ...['100 ms', '5 ms'].map((t) => num(rowOf(r, 'Accept → device', t)[10]!)),
    ...(sectionOf(r, 'Highest rate')?.tables[0] ?? []).map((cells) => num(cells[18]!)),
  ]);
  const idle = lineOf(quoted, 'Gateway: 10,000 devices', /the gateway used ([\d.]+% of a core)/)[1];
  const perDevice = runs.flatMap((r) =>
    sectionOf(r, 'Gateway: 10,000 devices') ? [num(rowOf(r, 'Gateway: 10,000 devices', 'RSS')[3]!)] : [],
  );

  return [
    `CPU seconds per 1,000 messages in the sustained run of ${code(CAPACITY_RUN)} (each process alone in its tier), api,`,
    `worker (COPY, merge, routing), Redis, PostgreSQL: ${costs(model)}. Over the kept runs they moved with the machine's speed:`,
    `${costs(cheapest)} in the cheapest (${code(cheapest.file)}), ${costs(dearest)} in the dearest (${code(dearest.file)}),`,
    `${costs(quoted)} in the run quoted above. The gateway spends ${Math.min(...micros)}–${Math.max(...micros)} µs of CPU per delivery`,
    `over the runs since ${code(GATEWAY_TAIL_SINCE)} (less per delivery at higher rates; ${idle} idle for 10,000 connections). So one core carries about:`,
    '',
    '| tier | messages/s per core | notes |',
    '| --- | ---: | --- |',
    ...TIERS.map(({ tier, unit, notes }) => `| ${tier} | ~${fmt(Math.round(1000 / perCore[tier]! / 1000) * 1000, 0)}${unit} | ${notes} |`),
    `| gateway | ~8,000–12,000 deliveries (an estimate: one gateway sustained 8,000 msg/s sharing 2 cores with everything else) | ${fmt(Math.min(...perDevice), 1)}–${fmt(Math.max(...perDevice), 1)} KiB RSS per connected device |`,
    '',
    '| target | api | workers | Redis | PostgreSQL | gateways (one per ~10k deliveries/s; memory allows far more devices each) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...TARGETS.map(
      ({ rate, cells }) =>
        `| ${rate / 1000}k msg/s | ${cells.map((cell) => cell.replace(/\{(\w+)\}/g, (_, key: string) => cores((rate / 1000) * keys[key]!))).join(' | ')} |`,
    ),
  ];
}
