import type { BurstResult } from './ingest/burst.ts';
import type { EndToEndResult } from './ingest/accept-to-stored.ts';
import type { IntegrityResult } from './storage/integrity.ts';
import type { SustainedResult } from './lib/load.ts';
import type { MachineInfo } from './lib/proc-stats.ts';
import type { GatewayResults } from './gateway/phase.ts';
import { gatewayMarkdown } from './gateway/report.ts';
import type { DirectStoreResult, PreloadResult, WorkerDrainResult } from './storage/copy-rate.ts';
import { resultStamp, writeResult } from './lib/results.ts';
import type { SystemLimits } from './lib/system-limits.ts';
import type { Cost } from './lib/same-rate-cost.ts';

export interface ProcessCost {
  /** CPU seconds (user + system) per 1000 accepted messages. */
  cpuSecondsPer1000: number;
  peakRssMiB: number;
}

/** One burst against the ceiling and against Esh3ar. */
export interface BurstPair {
  ceiling: BurstResult;
  esh3ar: BurstResult;
  /** The same burst against two new api processes sharing the port (SO_REUSEPORT). */
  esh3arTwoApis: BurstResult;
  drainAfterMs: number;
  /**
   * Each server's peak RSS during its own burst, and each of the two api processes'
   * during theirs (null: VmHWM could not be reset).
   */
  peakRssMiB: { ceiling: number | null; api: number | null; twoApis?: number[] | null };
}

/** The intake phase: the api against the ceiling, storage, and every 2xx stored once. */
export interface IntakeResults {
  sustained: { ceiling: SustainedResult; esh3ar: SustainedResult; drainAfterMs: number; machineBusyPercent: number };
  burst: BurstPair;
  keepAliveBurst: BurstPair;
  /** Accept → stored at a paced rate: single-message requests, then batches. */
  endToEnd: EndToEndResult[];
  storage: { preload: PreloadResult; worker: WorkerDrainResult; direct: DirectStoreResult };
  processes: {
    ceiling: ProcessCost;
    api: ProcessCost;
    worker: ProcessCost;
    /** The whole local redis-server / all local postgres processes (null: not on this machine). */
    redisCpuSecondsPer1000: number | null;
    postgresCpuSecondsPer1000: number | null;
    loadGeneratorCpuSecondsPer1000: { ceiling: number; esh3ar: number };
    storageWorkerPeakRssMiB: number;
  };
  integrity: IntegrityResult;
}

/**
 * The cost phase: the ceiling, the shape's floor and Esh3ar offered the same rate,
 * alternating rounds; medians. (Runs before the floor was measured have none.)
 */
export interface SameRateCost {
  rate: number;
  seconds: number;
  rounds: number;
  connections: number;
  measured: { ceiling: Cost[]; esh3ar: Cost[]; floor?: Cost[] };
  ceiling: Cost;
  esh3ar: Cost;
  floor?: Cost;
}

/** One run of `pnpm bench`: the phases BENCH_PHASES selected, each present when it ran. */
export interface BenchResults extends Partial<IntakeResults> {
  startedAt: string;
  phases: string[];
  settings: {
    sustainSeconds: number;
    warmupSeconds: number;
    connections: number;
    burst: number;
    keepAliveConnections: number;
    preload: number;
    bufferCapacity: number;
  };
  machine: MachineInfo;
  limits: SystemLimits;
  cost?: SameRateCost;
  gateway?: GatewayResults;
}

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const ms = (n: number) => (Number.isFinite(n) ? `${n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US')} ms` : 'n/a');
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : 'n/a');
const cpu = (n: number | null) => (n === null || !Number.isFinite(n) ? 'n/a' : n.toFixed(3));
const errors = (e: Record<string, number>) =>
  Object.entries(e)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ') || '0';
const codes = (c: Record<string, number>) =>
  Object.entries(c)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, n]) => `${code}×${n}`)
    .join(' ');

function row(cells: (string | number)[]): string {
  return `| ${cells.join(' | ')} |`;
}

function sustainedTable(c: SustainedResult, e: SustainedResult): string[] {
  return [
    row(['', 'ceiling', 'Esh3ar', 'Esh3ar / ceiling']),
    row(['---', '---:', '---:', '---:']),
    row(['req/s (mean)', int(c.requestsPerSecond), int(e.requestsPerSecond), ratio(e.requestsPerSecond, c.requestsPerSecond)]),
    row(['latency p50', ms(c.latencyMs.p50), ms(e.latencyMs.p50), ratio(e.latencyMs.p50, c.latencyMs.p50)]),
    row(['latency p99', ms(c.latencyMs.p99), ms(e.latencyMs.p99), ratio(e.latencyMs.p99, c.latencyMs.p99)]),
    row(['latency max', ms(c.latencyMs.max), ms(e.latencyMs.max), ratio(e.latencyMs.max, c.latencyMs.max)]),
    row(['2xx', int(c.ok), int(e.ok), '']),
    row(['non-2xx', `${int(c.non2xx)} ${codes(c.statusCodes)}`, `${int(e.non2xx)} ${codes(e.statusCodes)}`, '']),
    row(['errors (timeouts)', `${c.errors} (${c.timeouts})`, `${e.errors} (${e.timeouts})`, '']),
  ];
}

const mib = (n: number | null) => (n === null ? 'n/a' : `${int(n)} MiB`);

function burstTable({ ceiling: c, esh3ar: e, esh3arTwoApis: t, peakRssMiB: rss }: BurstPair): string[] {
  return [
    row(['', 'ceiling', 'Esh3ar', 'Esh3ar / ceiling', 'Esh3ar, 2 api processes', '2 api / ceiling']),
    row(['---', '---:', '---:', '---:', '---:', '---:']),
    row([
      '2xx of requests',
      `${int(c.ok)} / ${int(c.requests)}`,
      `${int(e.ok)} / ${int(e.requests)}`,
      '',
      `${int(t.ok)} / ${int(t.requests)}`,
      '',
    ]),
    row([
      'latency p50',
      ms(c.latencyMs.p50),
      ms(e.latencyMs.p50),
      ratio(e.latencyMs.p50, c.latencyMs.p50),
      ms(t.latencyMs.p50),
      ratio(t.latencyMs.p50, c.latencyMs.p50),
    ]),
    row([
      'latency p99',
      ms(c.latencyMs.p99),
      ms(e.latencyMs.p99),
      ratio(e.latencyMs.p99, c.latencyMs.p99),
      ms(t.latencyMs.p99),
      ratio(t.latencyMs.p99, c.latencyMs.p99),
    ]),
    row([
      'latency max',
      ms(c.latencyMs.max),
      ms(e.latencyMs.max),
      ratio(e.latencyMs.max, c.latencyMs.max),
      ms(t.latencyMs.max),
      ratio(t.latencyMs.max, c.latencyMs.max),
    ]),
    ...(c.mode === 'new-connections'
      ? [row(['all connect() calls issued within', ms(c.issueMs), ms(e.issueMs), '', ms(t.issueMs), ''])]
      : []),
    row(['last answer after', ms(c.wallMs), ms(e.wallMs), ratio(e.wallMs, c.wallMs), ms(t.wallMs), ratio(t.wallMs, c.wallMs)]),
    row([
      'non-2xx',
      `${int(c.non2xx)} ${codes(c.statusCodes)}`,
      `${int(e.non2xx)} ${codes(e.statusCodes)}`,
      '',
      `${int(t.non2xx)} ${codes(t.statusCodes)}`,
      '',
    ]),
    row(['errors', errors(c.errors), errors(e.errors), '', errors(t.errors), '']),
    row(['load generator CPU', ms(c.clientCpuMs), ms(e.clientCpuMs), '', ms(t.clientCpuMs), '']),
    row([
      'connections opened during burst (peak open at once)',
      `${int(c.connectionsOpened)} (${int(c.peakOpenConnections)})`,
      `${int(e.connectionsOpened)} (${int(e.peakOpenConnections)})`,
      '',
      `${int(t.connectionsOpened)} (${int(t.peakOpenConnections)})`,
      '',
    ]),
    row([
      'server peak RSS during the burst',
      mib(rss.ceiling),
      mib(rss.api),
      rss.ceiling === null || rss.api === null ? '' : ratio(rss.api, rss.ceiling),
      rss.twoApis ? `${rss.twoApis.map(int).join(' and ')} MiB` : 'n/a',
      '',
    ]),
  ];
}

export function toMarkdown(r: BenchResults): string {
  const { machine: m, limits: l } = r;
  return [
    `# Esh3ar benchmark, ${r.startedAt}`,
    '',
    `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, Linux ${m.kernel}. Phases: ${r.phases.join(', ')}.`,
    `somaxconn ${l.somaxconn.before} → ${l.somaxconn.after}, tcp_max_syn_backlog ${l.tcpMaxSynBacklog.before} → ${l.tcpMaxSynBacklog.after} (${l.sysctlMessage}); ${l.openFilesMessage}.`,
    '',
    ...targetsMarkdown(r),
    ...(r.integrity === undefined ? [] : intakeMarkdown(r as BenchResults & IntakeResults)),
    ...(r.cost === undefined ? [] : ['', ...costMarkdown(r.cost)]),
    ...(r.gateway === undefined ? [] : ['', ...gatewayMarkdown(r.gateway)]),
  ].join('\n');
}

/** The cost phase's section: what each tier spent per 1,000 accepted messages, the ceiling's in the same rounds. */
function costMarkdown(c: SameRateCost): string[] {
  const { ceiling: b, esh3ar: e, floor: f } = c;
  const rounds = (pick: (cost: Cost) => number, of: Cost[]) => of.map((cost) => cpu(pick(cost))).join(', ');
  const floorRows =
    f === undefined || c.measured.floor === undefined
      ? []
      : [
          row([
            'the shape’s floor: its api (the bare route + a durable, group-committed BullMQ enqueue)',
            int(f.requestsPerSecond),
            cpu(f.api),
            ratio(f.api, b.api),
            rounds((x) => x.api, c.measured.floor),
          ]),
          row([
            'the shape’s floor until stored (+ Redis, a bare BullMQ worker COPYing the jobs it holds, PostgreSQL)',
            '',
            cpu(f.total),
            ratio(f.total, b.api),
            rounds((x) => x.total, c.measured.floor),
          ]),
        ];
  return [
    `## Cost at the same offered rate (${int(c.rate)} req/s)`,
    '',
    `${c.rounds} alternating rounds, each the ceiling, ${f === undefined ? '' : 'the shape’s floor (bench/lib/floor-server.ts, floor-worker.ts), '}then Esh3ar (1 api, 1 worker, a fresh database), ${c.connections} connections for ${c.seconds} s after 2 s of warm-up, all offered ${int(c.rate)} req/s; medians. CPU seconds per 1,000 accepted messages from /proc; Esh3ar's${f === undefined ? '' : ' and the floor’s'} from the start of the load until the last accepted message was stored.`,
    '',
    row(['', 'req/s', 'CPU s / 1000', 'vs ceiling', 'rounds']),
    row(['---', '---:', '---:', '---:', '---']),
    row([
      'ceiling (bare Fastify route, the same validation)',
      int(b.requestsPerSecond),
      cpu(b.api),
      '1.00×',
      rounds((x) => x.api, c.measured.ceiling),
    ]),
    ...floorRows,
    row(['api', int(e.requestsPerSecond), cpu(e.api), ratio(e.api, b.api), rounds((x) => x.api, c.measured.esh3ar)]),
    row(['worker', '', cpu(e.worker), '', rounds((x) => x.worker, c.measured.esh3ar)]),
    row(['redis-server', '', cpu(e.redis), '', rounds((x) => x.redis, c.measured.esh3ar)]),
    row(['postgres', '', cpu(e.postgres), '', rounds((x) => x.postgres, c.measured.esh3ar)]),
    row(['until stored, in all', '', cpu(e.total), ratio(e.total, b.api), rounds((x) => x.total, c.measured.esh3ar)]),
    row([
      'load generator (not counted above)',
      '',
      `${cpu(b.loadGenerator)} / ${cpu(e.loadGenerator)}`,
      '',
      'against the ceiling / Esh3ar',
    ]),
  ];
}

/**
 * The performance targets, each against what this run measured. A phase that did not
 * run, or ran at another size than the target names (BENCH_* settings), is "not measured".
 */
function targetsMarkdown(r: BenchResults): string[] {
  const rows: [target: string, measured: string, met: boolean | null][] = [];
  const yes = (met: boolean | null) => (met === null ? 'not measured' : met ? 'met' : 'not met');
  const atSize = (sized: boolean, met: boolean) => (sized ? met : null);
  const burstSized = r.settings.burst === 10_000;
  if (r.sustained) {
    const x = r.sustained.esh3ar.requestsPerSecond / r.sustained.ceiling.requestsPerSecond;
    rows.push(['sustained acceptance ≥ 0.8× the ceiling', `${x.toFixed(2)}×`, x >= 0.8]);
  }
  if (r.burst) {
    const { ceiling, esh3ar, esh3arTwoApis } = r.burst;
    const all = esh3ar.ok === esh3ar.requests;
    const x = esh3ar.latencyMs.p99 / ceiling.latencyMs.p99;
    const two = esh3arTwoApis.latencyMs.p99 / ceiling.latencyMs.p99;
    rows.push([
      '10,000-request burst: 100% accepted, p99 ≤ 1.25× the ceiling’s',
      `${int(esh3ar.ok)} / ${int(esh3ar.requests)}, p99 ${x.toFixed(2)}× (2 api processes: ${two.toFixed(2)}×)`,
      atSize(burstSized, all && x <= 1.25),
    ]);
  }
  if (r.keepAliveBurst) {
    const p99 = r.keepAliveBurst.esh3ar.latencyMs.p99;
    rows.push([
      'the burst over pre-opened connections: p99 < 500 ms',
      `${ms(p99)} (${int(r.keepAliveBurst.esh3ar.requests)} requests)`,
      atSize(burstSized, p99 < 500),
    ]);
  }
  if (r.endToEnd) {
    for (const e of r.endToEnd) {
      const sized = e.offeredMessagesPerSecond >= 10_000 && e.seconds >= 59.5;
      const ok = e.storedMessagesPerSecond >= 10_000 * 0.995 && e.flat;
      rows.push([
        `accept → stored ≥ 10,000 msg/s for 60 s, backlog flat (${e.mode === 'batch' ? `batches of ${e.messagesPerRequest}` : 'single requests'})`,
        `${int(e.storedMessagesPerSecond)} stored/s, ${e.flat ? 'flat' : 'growing'} (${int(e.offeredMessagesPerSecond)} msg/s offered for ${Math.round(e.seconds)} s)`,
        atSize(sized, ok),
      ]);
    }
  }
  if (r.cost) {
    const { ceiling, esh3ar, floor } = r.cost;
    const [api, all] = [esh3ar.api / ceiling.api, esh3ar.total / ceiling.api];
    const sized = r.cost.rate === 5000;
    const floorOf = (pick: (c: Cost) => number) =>
      floor === undefined ? '' : `; the shape’s floor ${(pick(floor) / ceiling.api).toFixed(2)}×`;
    rows.push([
      'api CPU per accepted message ≤ 1.3× the bare route’s (5,000 req/s offered to both)',
      `${api.toFixed(2)}× (${cpu(esh3ar.api)} against ${cpu(ceiling.api)} s per 1,000${floorOf((c) => c.api)})`,
      atSize(sized, api <= 1.3),
    ]);
    rows.push([
      'api + worker + Redis + PostgreSQL until stored ≤ 2.0× the bare route’s',
      `${all.toFixed(2)}× (${cpu(esh3ar.total)} s per 1,000${floorOf((c) => c.total)})`,
      atSize(sized, all <= 2.0),
    ]);
  }
  if (r.gateway) {
    const g = r.gateway;
    const devices = `${int(g.connect.connected)} devices`;
    for (const { workerBatchTimeoutMs, step } of g.latency) {
      const label = workerBatchTimeoutMs === null ? 'the default batch timeout' : `batch timeout ${workerBatchTimeoutMs} ms`;
      const sized = g.connect.connected >= 10_000 && step.offeredPerSecond === 1000;
      rows.push([
        `accept → device p99 ≤ 100 ms at 1,000 msg/s, 10,000 devices (${label})`,
        `${ms(step.latencyMs.p99)} (${int(step.offeredPerSecond)} msg/s, ${devices})`,
        atSize(sized, step.latencyMs.p99 <= 100 && step.lost === 0),
      ]);
    }
    rows.push([
      'gateway memory ≤ 16 KB per connected device',
      `${g.memory.rssPerConnectionKiB} KiB RSS (${devices})`,
      atSize(g.connect.connected >= 10_000, g.memory.rssPerConnectionKiB * 1024 <= 16_000),
    ]);
  }
  if (r.burst) {
    const within = (peaks: number[]) => peaks.every((p) => p * 2 ** 20 <= 300e6);
    const { api: rss, twoApis } = r.burst.peakRssMiB;
    rows.push([
      'api peak RSS during the burst ≤ 300 MB (one api process)',
      rss === null ? 'n/a' : `${int(rss)} MiB`,
      rss === null ? null : atSize(burstSized, within([rss])),
    ]);
    rows.push([
      'the same, each of 2 api processes on one port (one per core)',
      twoApis ? `${twoApis.map(int).join(' and ')} MiB` : 'n/a',
      twoApis ? atSize(burstSized, within(twoApis)) : null,
    ]);
  }
  if (rows.length === 0) return [];
  return [
    '## Targets in this run',
    '',
    row(['target', 'measured', '']),
    row(['---', '---', '---']),
    ...rows.map(([t, m, met]) => row([t, m, yes(met)])),
    '',
  ];
}

function intakeMarkdown(r: BenchResults & IntakeResults): string[] {
  const s = r.settings;
  const { machine: m, storage: st, processes: p, integrity: i } = r;
  const esh3arTotal =
    p.api.cpuSecondsPer1000 + p.worker.cpuSecondsPer1000 + (p.redisCpuSecondsPer1000 ?? 0) + (p.postgresCpuSecondsPer1000 ?? 0);
  const ceilingRun = p.ceiling.cpuSecondsPer1000 + p.loadGeneratorCpuSecondsPer1000.ceiling;
  const esh3arRun = esh3arTotal + p.loadGeneratorCpuSecondsPer1000.esh3ar;
  return [
    `Load generator: autocannon (sustained) and raw sockets (bursts, bench/lib/raw-http.ts), in the orchestrating process on the same machine. Esh3ar: 1 api (for the "2 api processes" columns, two new ones sharing a port, SO_REUSEPORT, warmed for 6 s), 1 worker, BUFFER_CAPACITY ${int(s.bufferCapacity)}. Ceiling: bare Fastify 5, same validateMessage, answers 202 without Redis.`,
    '',
    `## Sustained: ${s.connections} keep-alive connections, ${s.sustainSeconds} s (after ${s.warmupSeconds} s warm-up)`,
    '',
    ...sustainedTable(r.sustained.ceiling, r.sustained.esh3ar),
    '',
    `Machine CPU busy during Esh3ar's run: ${r.sustained.machineBusyPercent}%. Buffer empty ${ms(r.sustained.drainAfterMs)} after the run.`,
    '',
    `## Burst: ${int(s.burst)} requests on ${int(s.burst)} new connections at once`,
    '',
    ...burstTable(r.burst),
    '',
    `## Burst: ${int(s.burst)} requests at once over ${int(s.keepAliveConnections)} open keep-alive connections`,
    '',
    ...burstTable(r.keepAliveBurst),
    '',
    ...endToEndMarkdown(r.endToEnd),
    '',
    `## Storage: one worker on a preloaded buffer of ${int(st.worker.rows)} messages`,
    '',
    row(['', 'rows/s', 'vs direct storeBatch']),
    row(['---', '---:', '---:']),
    row(['direct storeBatch (no Redis, no BullMQ), baseline', int(st.direct.rowsPerSecond), '1.00×']),
    row([
      'worker, steady (first batch stored → buffer empty)',
      int(st.worker.rowsPerSecond),
      ratio(st.worker.rowsPerSecond, st.direct.rowsPerSecond),
    ]),
    row([
      `worker, from spawn (${st.worker.secondsFromSpawn} s incl. start-up)`,
      int(st.worker.rowsPerSecondFromSpawn),
      ratio(st.worker.rowsPerSecondFromSpawn, st.direct.rowsPerSecond),
    ]),
    '',
    `Preload: ${int(st.preload.accepted)} accepted, ${int(st.preload.rejected)} rejected, in ${st.preload.requests} batch requests, ${st.preload.seconds.toFixed(1)} s (${int(st.preload.accepted / st.preload.seconds)} msg/s).`,
    '',
    '## Cost per 1000 accepted messages (sustained run; worker, Redis and PostgreSQL until the buffer was empty)',
    '',
    row(['process', 'CPU s / 1000', 'vs ceiling', 'peak RSS']),
    row(['---', '---:', '---:', '---:']),
    row(['ceiling', cpu(p.ceiling.cpuSecondsPer1000), '1.00×', `${p.ceiling.peakRssMiB} MiB`]),
    row(['api', cpu(p.api.cpuSecondsPer1000), ratio(p.api.cpuSecondsPer1000, p.ceiling.cpuSecondsPer1000), `${p.api.peakRssMiB} MiB`]),
    row([
      'worker',
      cpu(p.worker.cpuSecondsPer1000),
      '',
      `${p.worker.peakRssMiB} MiB (storage-phase worker ${p.storageWorkerPeakRssMiB} MiB)`,
    ]),
    row(['redis-server (all its clients)', cpu(p.redisCpuSecondsPer1000), '', '']),
    row(['postgres (all its processes)', cpu(p.postgresCpuSecondsPer1000), '', '']),
    row(['Esh3ar in all', cpu(esh3arTotal), ratio(esh3arTotal, p.ceiling.cpuSecondsPer1000), '']),
    row([
      'load generator, against ceiling / Esh3ar',
      `${cpu(p.loadGeneratorCpuSecondsPer1000.ceiling)} / ${cpu(p.loadGeneratorCpuSecondsPer1000.esh3ar)}`,
      '',
      '',
    ]),
    '',
    `At ${cpu(esh3arTotal)} CPU s per 1000 messages, ${m.cores} cores could take at most ${int((m.cores / esh3arTotal) * 1000)} msg/s end to end with nothing else running.`,
    '',
    `What the sustained ratio can be on one machine, from CPU alone: the ceiling's run costs ${cpu(ceilingRun)} CPU s per 1000 requests (server + load generator), Esh3ar's ${cpu(esh3arRun)} (api, worker, Redis, PostgreSQL + load generator); with the cores saturated in both runs, Esh3ar / ceiling can be about ${ratio(ceilingRun, esh3arRun)} (measured ${ratio(r.sustained.esh3ar.requestsPerSecond, r.sustained.ceiling.requestsPerSecond)}). A higher ratio needs the storage side on other cores, as in any deployment.`,
    '',
    '## Every 2xx stored exactly once',
    '',
    row([
      '2xx answered',
      'rows',
      'distinct ids',
      'answered ids stored',
      'rows without a 2xx seen',
      'messages of requests left unanswered',
      'verdict',
    ]),
    row(['---:', '---:', '---:', '---:', '---:', '---:', '---']),
    row([
      int(i.answered),
      int(i.stored),
      int(i.storedDistinct),
      int(i.answeredStored),
      int(i.storedWithoutAnswer),
      int(i.unansweredRequests),
      i.ok ? 'OK' : `FAILED: ${i.problems.join('; ')}`,
    ]),
    '',
  ];
}

function endToEndMarkdown(runs: readonly EndToEndResult[]): string[] {
  if (runs.length === 0) return [];
  const first = runs[0]!;
  return [
    `## Accept → stored: ${int(first.offeredMessagesPerSecond)} messages/s offered for ${first.seconds} s, one worker storing`,
    '',
    "Paced load (autocannon overallRate); stored/s is the workers' esh3ar_persist_rows_total each second, backlog the buffer depth the api reports; steady = the run without its first and last second. Flat: the backlog grew by less than 1% of the accepted rate per second and ended below one second of traffic.",
    '',
    row([
      'requests',
      'accepted msg/s',
      'stored msg/s (steady)',
      'request p50 / p99',
      'non-2xx',
      'backlog start / max / end',
      'backlog slope',
      'accept → stored p50 / p99',
      'verdict',
    ]),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---']),
    ...runs.map((r) =>
      row([
        r.mode === 'single'
          ? `POST /v1/messages, ${r.connections} connections`
          : `POST /v1/messages/batch of ${r.messagesPerRequest}, ${r.connections} connections`,
        int(r.acceptedMessagesPerSecond),
        int(r.storedMessagesPerSecond),
        `${ms(r.load.latencyMs.p50)} / ${ms(r.load.latencyMs.p99)}`,
        `${int(r.load.non2xx)} ${codes(r.load.statusCodes)}`,
        `${int(r.backlog.atStart)} / ${int(r.backlog.max)} / ${int(r.backlog.atEnd)}`,
        `${int(r.backlog.slopePerSecond)}/s`,
        `≤ ${ms(r.acceptToStoredMs.p50)} / ≤ ${ms(r.acceptToStoredMs.p99)}`,
        r.flat && r.acceptedMessagesPerSecond >= 0.98 * r.offeredMessagesPerSecond
          ? 'flat, offered rate accepted'
          : r.flat
            ? 'flat, below the offered rate'
            : 'backlog growing',
      ]),
    ),
    '',
  ];
}

/** Writes <stamp>.json, <stamp>.md and, given a chart, <stamp>.svg linked from the Markdown; returns the .md's path. */
export function writeResults(results: BenchResults, markdown: string, chartSvg?: string): string {
  const stamp = resultStamp(results.startedAt);
  writeResult(`${stamp}.json`, `${JSON.stringify(results, null, 2)}\n`);
  if (chartSvg === undefined) return writeResult(`${stamp}.md`, markdown);
  writeResult(`${stamp}.svg`, chartSvg);
  return writeResult(
    `${stamp}.md`,
    `${markdown}\n## Sustained runs over time\n\n![Throughput and latency per second, ceiling and Esh3ar](${stamp}.svg)\n`,
  );
}
