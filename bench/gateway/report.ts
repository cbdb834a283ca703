import type { CpuUse, GatewayResults, StepResult } from './phase.ts';

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const ms = (n: number) =>
  n === Number.POSITIVE_INFINITY ? '∞' : Number.isFinite(n) ? `${n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US')} ms` : 'n/a';
const cpu = (c: CpuUse | null) => (c === null ? 'n/a' : `${c.seconds.toFixed(1)} s (${c.percentOfCore}%)`);
const timeout = (t: number | null) => (t === null ? '100 ms (default)' : `${t} ms`);
const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
const issues = (s: StepResult) =>
  [
    ...Object.entries(s.statusCodes)
      .filter(([code]) => code !== '202')
      .map(([code, n]) => `HTTP ${code}×${n}`),
    ...Object.entries(s.requestErrors).map(([code, n]) => `${code}×${n}`),
  ].join(', ');

const gc = (g: { count: number; ms: number } | undefined) => (g ? `${g.count}× ${ms(g.ms)}` : 'n/a');

export function gatewayMarkdown(g: GatewayResults): string[] {
  const s = g.settings;
  const m = g.memory;
  const d = g.delivery;
  const first = g.latency[0]?.step;
  return [
    `## Gateway: ${int(s.devices)} devices on one gateway process`,
    '',
    `Load average (1, 5, 15 min) at the start of the phase ${g.loadAverage.start.join(', ')}, at the end ${g.loadAverage.end.join(', ')}, on ${g.cores} cores. ` +
      `Esh3ar: 1 api, 1 worker, 1 gateway; devices in a worker thread of the orchestrating process (raw \`ws\` clients, bench/gateway/device-fleet-thread.ts), the HTTP load in its main thread. ${g.openFiles.message}.`,
    '',
    `${int(g.connect.connected)} of ${int(g.connect.devices)} devices connected in ${g.connect.seconds} s (${int(g.connect.perSecond)}/s)` +
      `${
        Object.keys(g.connect.failed).length
          ? `; failed: ${Object.entries(g.connect.failed)
              .map(([c, n]) => `${c}×${n}`)
              .join(', ')}`
          : ''
      }.`,
    '',
    row(['gateway memory', 'before any connection', `${int(g.connect.connected)} connected, settled`, 'per connection']),
    row(['---', '---:', '---:', '---:']),
    row(['RSS (VmRSS)', `${m.rssBeforeMiB} MiB`, `${m.rssAfterMiB} MiB`, `${m.rssPerConnectionKiB} KiB`]),
    row(['V8 heap used', `${m.heapUsedBeforeMiB} MiB`, `${m.heapUsedAfterMiB} MiB`, `${m.heapPerConnectionKiB} KiB`]),
    '',
    `Idle with every device connected, the gateway used ${m.idleGatewayCpuPercentOfCore}% of a core (pings, presence beat). ` +
      `After all the runs, devices still connected: RSS ${m.rssAtEndMiB} MiB, V8 heap used ${m.heapUsedAtEndMiB} MiB.`,
    '',
    `## Accept → device at ${int(s.rate)} msg/s for ${s.seconds} s`,
    '',
    `POST /v1/messages/batch, ${first?.batchSize ?? '?'} messages every 10 ms to random connected phones; each device acks every frame on receipt. ` +
      `Latency: from just before the HTTP request to the frame's arrival at the device. Lost: answered 202, no frame within ${s.graceSeconds} s after the last request. ` +
      'Delivered/s: first arrivals per second in the steady part of the run (above the offered rate when a backlog drains). ' +
      "Device thread loop delay: how long the devices' event loop stalled; frames arriving meanwhile are timed late by up to that much.",
    '',
    row([
      'worker batch timeout',
      '202',
      'received',
      'lost',
      're-pushes',
      'delivered/s',
      'p50',
      'p90',
      'p99',
      'max',
      'gateway CPU per delivery',
      'machine busy (outside the benchmark)',
      'device thread loop delay p99 / max',
      'errors',
    ]),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---']),
    ...g.latency.map(({ workerBatchTimeoutMs, step: r }) =>
      row([
        timeout(workerBatchTimeoutMs),
        int(r.accepted),
        int(r.received),
        int(r.lost),
        int(r.duplicates),
        int(r.deliveredPerSecond),
        ms(r.latencyMs.p50),
        ms(r.latencyMs.p90),
        ms(r.latencyMs.p99),
        ms(r.latencyMs.max),
        `${int(r.gatewayCpuMicrosPerDelivery)} µs`,
        `${r.machineBusyPercent}% (${r.outsideCpuPercentOfCore}% of a core)`,
        `${ms(r.loadGeneratorLoopDelayMs.p99)} / ${ms(r.loadGeneratorLoopDelayMs.max)}`,
        issues(r) || '0',
      ]),
    ),
    '',
    "Where the time goes: request → accepted (the api's acceptedAt in the frame, ms precision), accepted → stored (the worker's esh3ar_accept_to_stored_seconds), " +
      "accepted → pushed (the gateway's esh3ar_accept_to_device_seconds), accepted → at the device (this process's clock). A p99 from a histogram is the upper bound of its bucket.",
    '',
    row([
      'worker batch timeout',
      'request → accepted p50',
      'accepted → stored mean / p99',
      'accepted → pushed mean / p99',
      'accepted → device p50 / mean / p99',
      'rows per COPY',
      'COPY + merge',
      'longest loop stall: gateway / worker',
      'gateway GC: minor / major',
    ]),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
    ...g.latency.map(({ workerBatchTimeoutMs, step: { breakdown: b } }) =>
      row([
        timeout(workerBatchTimeoutMs),
        ms(b.requestToAcceptedP50),
        `${ms(b.acceptedToStoredMean)} / ≤ ${ms(b.acceptedToStoredP99)}`,
        `${ms(b.acceptedToPushedMean)} / ≤ ${ms(b.acceptedToPushedP99)}`,
        `${ms(b.acceptedToArrivedP50)} / ${ms(b.acceptedToArrivedMean)} / ${ms(b.acceptedToArrivedP99)}`,
        b.batchRowsMean.toFixed(1),
        ms(b.copyMsMean),
        `${ms(b.loopStallMaxMs.gateway)} / ${ms(b.loopStallMaxMs.worker)}`,
        `${gc(b.gatewayGcMs.minor)} / ${gc(b.gatewayGcMs.major)}`,
      ]),
    ),
    '',
    `## Highest rate one gateway sustains (worker batch timeout ${timeout(g.ramp.workerBatchTimeoutMs)}, ${s.stepSeconds} s per step)`,
    '',
    `Sustained: delivered/s ≥ 95% of offered and p99 < 1 s (a lost message counts as never arriving). The ramp stops at the first step that is not. ` +
      'CPU: seconds while offering (% of one core) from /proc/<pid>/stat; redis-server and postgres are every such process on the machine, other users included. ' +
      "Outside the benchmark: machine busy × cores less all of these (others' tests, say).",
    '',
    row([
      'offered msg/s',
      'batch',
      'sent/s',
      '202/s',
      'delivered/s',
      'p50',
      'p99',
      'max',
      'lost',
      'api',
      'worker',
      'gateway',
      'redis',
      'postgres',
      'load generator',
      'device thread loop delay p99 / max',
      'machine busy',
      'outside the benchmark',
      'gateway CPU per delivery',
      'verdict',
    ]),
    row([
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---',
    ]),
    ...g.ramp.steps.map((r) =>
      row([
        int(r.offeredPerSecond),
        r.batchSize,
        int(r.sentPerSecond),
        int(r.acceptedPerSecond),
        int(r.deliveredPerSecond),
        ms(r.latencyMs.p50),
        ms(r.latencyMs.p99),
        ms(r.latencyMs.max),
        int(r.lost),
        cpu(r.cpu.api),
        cpu(r.cpu.worker),
        cpu(r.cpu.gateway),
        cpu(r.cpu.redis),
        cpu(r.cpu.postgres),
        cpu(r.cpu.loadGenerator),
        `${ms(r.loadGeneratorLoopDelayMs.p99)} / ${ms(r.loadGeneratorLoopDelayMs.max)}`,
        `${r.machineBusyPercent}%`,
        `${r.outsideCpuPercentOfCore}% of a core`,
        `${int(r.gatewayCpuMicrosPerDelivery)} µs`,
        `${r.sustained ? 'sustained' : 'NOT sustained'}: ${r.why}${r.saturated.length ? `; at the limit: ${r.saturated.join(', ')}` : ''}${issues(r) ? `; ${issues(r)}` : ''}`,
      ]),
    ),
    '',
    `Highest sustained rate: ${g.ramp.highestSustainedPerSecond === null ? 'none of the steps' : `${int(g.ramp.highestSustainedPerSecond)} msg/s`}.`,
    '',
    '## Every 202 delivered in PostgreSQL',
    '',
    row(['answered 202', 'delivered', 'rows by status', 'not stored', 'not delivered: frame received / never received', 'verdict']),
    row(['---:', '---:', '---', '---:', '---:', '---']),
    row([
      int(d.answered),
      int(d.delivered),
      Object.entries(d.byStatus)
        .map(([status, n]) => `${status} ${int(n)}`)
        .join(', '),
      int(d.notStored),
      `${int(d.notDeliveredButReceived)} / ${int(d.notDeliveredNeverReceived)}`,
      d.ok ? 'OK' : `FAILED: ${d.problems.join('; ')}`,
    ]),
    '',
    `Devices: ${int(g.devices.acksSent)} acks sent, ${int(g.devices.unexpectedCloses)} connections closed under the benchmark, ` +
      `${int(g.devices.errorFrames)} error frames, ${int(g.devices.unreadableFrames + g.devices.foreignFrames)} unreadable or foreign frames.`,
    '',
  ];
}
