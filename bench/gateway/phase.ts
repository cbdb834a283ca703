import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { startStack, waitFor, type AppProcess, type Stack } from '@esh3ar/stack';
import { waitForDrain } from '../lib/buffer-depth.ts';
import { histogramMean, histogramQuantile, scrape, total } from '../lib/metrics-scrape.ts';
import { deviceCredentials, type ConnectResult } from './device-fleet.ts';
import { ThreadedDeviceFleet } from './device-fleet-thread.ts';
import { MessageLog, Outcome, PacedSender, type OfferResult } from './paced-load.ts';
import { cpuByName, cpuSeconds, cpuSinceByName, machineJiffies, procStatusKiB, settle } from '../lib/proc-stats.ts';

/**
 * The gateway phase of `pnpm bench`: N devices on one gateway process (memory per
 * connection), accept → device latency at a paced rate, the highest rate one
 * gateway sustains, and proof that every 202 ended `delivered` in PostgreSQL.
 */

export interface GatewaySettings {
  devices: number;
  /** The latency run: offered msg/s and seconds. */
  rate: number;
  seconds: number;
  /** The ramp: offered msg/s of each step, and seconds per step. */
  ramp: number[];
  stepSeconds: number;
  /** WORKER_BATCH_TIMEOUT_MS of the runs (null: the product default, not passed); the ramp uses the first. */
  workerBatchTimeouts: (number | null)[];
  warmupSeconds: number;
  /** How long after the last request a message may still arrive before it counts as lost. */
  graceSeconds: number;
  bufferCapacity: number;
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** CPU seconds (user + system) over the offering window, and that as % of one core. */
export interface CpuUse {
  seconds: number;
  percentOfCore: number;
}

export interface StepResult {
  offeredPerSecond: number;
  seconds: number;
  batchSize: number;
  requests: number;
  statusCodes: Record<string, number>;
  requestErrors: Record<string, number>;
  /** Messages put in requests, answered 202, refused (non-202 or a refused batch item). */
  messages: number;
  accepted: number;
  refused: number;
  /** Issued and accepted per second over the offering window. */
  sentPerSecond: number;
  acceptedPerSecond: number;
  /** Accepted messages whose frame reached a device before the grace period ended; the rest are lost. */
  received: number;
  lost: number;
  /** Frames beyond the first for a message (re-pushes). */
  duplicates: number;
  /** First arrivals per second in the steady window (from min(1 s, T/4) after the start to the last request). */
  deliveredPerSecond: number;
  /** From just before the HTTP request to the frame at the device, over received messages. */
  latencyMs: LatencySummary;
  /** p99 counting lost messages as never arriving (∞ once more than 1% are lost): the ramp's criterion. */
  p99WithLostMs: number;
  /** Last frame of the step after its last request was issued. */
  lastArrivalAfterOfferMs: number;
  /** How late the load generator issued its most delayed batch. */
  maxIssueLagMs: number;
  /**
   * The load generator's event-loop delay while offering: frames wait in the kernel
   * meanwhile, so a stall here adds to the measured latency of what arrives during it.
   */
  loadGeneratorLoopDelayMs: { p99: number; max: number };
  cpu: { api: CpuUse; worker: CpuUse; gateway: CpuUse; redis: CpuUse | null; postgres: CpuUse | null; loadGenerator: CpuUse };
  machineBusyPercent: number;
  /**
   * Machine busy (as % of one core, × cores) less the CPU of the processes above: work
   * outside this benchmark, such as someone else's tests (a lower bound: their use of
   * the shared redis-server and postgres counts above).
   */
  outsideCpuPercentOfCore: number;
  /** Gateway CPU (offering start → last arrival) per message received, in µs. */
  gatewayCpuMicrosPerDelivery: number;
  /** Node processes at ≥ 85% of a core, and the machine at ≥ 90% busy. */
  saturated: string[];
  breakdown: Breakdown;
}

/** Where the time goes, in ms (means unless named): client clock, api clock, and the apps' own histograms. */
export interface Breakdown {
  /** Request issued → acceptedAt (the api's clock, ms precision): the HTTP request and the Redis write. */
  requestToAcceptedP50: number;
  /** acceptedAt → frame at the device. */
  acceptedToArrivedP50: number;
  acceptedToArrivedMean: number;
  /** The worker's esh3ar_accept_to_stored_seconds: accepted → row committed (queue wait, batch timeout, COPY). */
  acceptedToStoredMean: number;
  /** The gateway's esh3ar_accept_to_device_seconds: accepted → frame written to the socket. */
  acceptedToPushedMean: number;
  /** p99 of the same two histograms: the upper bound of the bucket it falls in. */
  acceptedToStoredP99: number;
  acceptedToPushedP99: number;
  /** acceptedAt → frame at the device, p99. */
  acceptedToArrivedP99: number;
  /** The longest event-loop stall of the gateway and of the worker during the run, and their GC time by kind (prom-client's default metrics). */
  loopStallMaxMs: { gateway: number; worker: number };
  gatewayGcMs: Record<string, { count: number; ms: number }>;
  /** Rows per COPY batch and the time of one, from the worker's histograms. */
  batchRowsMean: number;
  copyMsMean: number;
}

export interface RampStep extends StepResult {
  sustained: boolean;
  why: string;
}

export interface DeliveryCheck {
  answered: number;
  /** Rows of the answered ids by status, and answered ids with no row. */
  byStatus: Record<string, number>;
  notStored: number;
  delivered: number;
  /** Of those not delivered: a device got the frame (and acked it), or none did. */
  notDeliveredButReceived: number;
  notDeliveredNeverReceived: number;
  /** Frames whose id differs from the 202's id for the same content token. */
  idMismatches: number;
  waitedMs: number;
  ok: boolean;
  problems: string[];
}

export interface GatewayResults {
  settings: GatewaySettings;
  cores: number;
  loadAverage: { start: number[]; end: number[] };
  openFiles: { gateway: number; loadGenerator: number; needed: number; ok: boolean; message: string };
  connect: ConnectResult & { perSecond: number };
  memory: {
    rssBeforeMiB: number;
    rssAfterMiB: number;
    rssPerConnectionKiB: number;
    heapUsedBeforeMiB: number;
    heapUsedAfterMiB: number;
    heapPerConnectionKiB: number;
    /** Gateway CPU while idle with every device connected, over 10 s (three presence beats at the default TTL). */
    idleGatewayCpuPercentOfCore: number;
    /** After all the runs, devices still connected (V8 may since have collected what the connect storm left). */
    rssAtEndMiB: number;
    heapUsedAtEndMiB: number;
  };
  latency: { workerBatchTimeoutMs: number | null; step: StepResult }[];
  ramp: { workerBatchTimeoutMs: number | null; steps: RampStep[]; highestSustainedPerSecond: number | null };
  delivery: DeliveryCheck;
  devices: { unexpectedCloses: number; unreadableFrames: number; errorFrames: number; acksSent: number; foreignFrames: number };
}

const CONNECT_CONCURRENCY = 200;
const SUSTAINED_SHARE = 0.95;
const SUSTAINED_P99_MS = 1000;
const SATURATED_PERCENT = 85;
const PRODUCT_BATCH_TIMEOUT_MS = 100;
const DELIVERY_CHECK_TIMEOUT_MS = 60_000;
const CHUNK = 20_000;
const IDLE_SAMPLE_MS = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round1 = (n: number) => Math.round(n * 10) / 10;

/** The soft `Max open files` of a process. */
function openFilesOf(pid: number | 'self'): number {
  const match = /^Max open files\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return match?.[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match?.[1]);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface CpuSnapshot {
  at: number;
  api: number;
  worker: number;
  gateway: number;
  redis: Map<number, number>;
  postgres: Map<number, number>;
  self: NodeJS.CpuUsage;
  jiffies: { busy: number; total: number };
}

interface Context {
  stack: Stack;
  api: AppProcess;
  worker: AppProcess;
  gateway: AppProcess;
  sender: PacedSender;
  fleet: ThreadedDeviceFleet;
  log: MessageLog;
  graceMs: number;
}

function snapshot(ctx: Context): CpuSnapshot {
  return {
    at: performance.now(),
    api: cpuSeconds(ctx.api.pid),
    worker: cpuSeconds(ctx.worker.pid),
    gateway: cpuSeconds(ctx.gateway.pid),
    redis: cpuByName('redis-server'),
    postgres: cpuByName('postgres'),
    self: process.cpuUsage(),
    jiffies: machineJiffies(),
  };
}

function cpuUse(seconds: number, wallMs: number): CpuUse {
  return { seconds: Math.round(seconds * 100) / 100, percentOfCore: Math.round((seconds / (wallMs / 1000)) * 100) };
}

function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): StepResult['cpu'] & { machineBusyPercent: number } {
  const wall = b.at - a.at;
  const self = process.cpuUsage(a.self);
  const redis = cpuSinceByName('redis-server', a.redis);
  const postgres = cpuSinceByName('postgres', a.postgres);
  // cpuSinceByName reads "now"; b was taken a moment before, which is close enough for a share of a core.
  return {
    api: cpuUse(b.api - a.api, wall),
    worker: cpuUse(b.worker - a.worker, wall),
    gateway: cpuUse(b.gateway - a.gateway, wall),
    redis: redis === null ? null : cpuUse(redis, wall),
    postgres: postgres === null ? null : cpuUse(postgres, wall),
    loadGenerator: cpuUse((self.user + self.system) / 1e6, wall),
    machineBusyPercent: Math.round(((b.jiffies.busy - a.jiffies.busy) / Math.max(1, b.jiffies.total - a.jiffies.total)) * 100),
  };
}

/** Offers `rate` msg/s for `seconds`, waits for the frames (grace period), and summarizes. */
async function runStep(ctx: Context, rate: number, seconds: number): Promise<StepResult> {
  const { log } = ctx;
  const batchSize = Math.max(1, Math.round(rate / 100)); // one batch every 10 ms
  const [workerBefore, gatewayBefore] = await Promise.all([scrape(ctx.worker.url), scrape(ctx.gateway.url)]);
  await ctx.fleet.loopDelay(); // from here on
  const start = snapshot(ctx);
  let offeredCpu: (StepResult['cpu'] & { machineBusyPercent: number }) | undefined;
  const offer: OfferResult = await ctx.sender.offer(rate, seconds, batchSize, () => {
    offeredCpu = cpuBetween(start, snapshot(ctx));
  });
  const fleetDelay = await ctx.fleet.loopDelay();
  const deadline = offer.answeredUntil + ctx.graceMs;
  while (log.missing(offer.fromSeq, offer.toSeq) > 0 && performance.now() < deadline) await sleep(100);
  const gatewayCpuToEnd = cpuSeconds(ctx.gateway.pid) - start.gateway;
  const [workerAfter, gatewayAfter] = await Promise.all([scrape(ctx.worker.url), scrape(ctx.gateway.url)]);

  const latencies: number[] = [];
  const requestToAccepted: number[] = [];
  const acceptedToArrived: number[] = [];
  let accepted = 0;
  let duplicates = 0;
  let lastArrival = offer.offeredUntil;
  const steadyFrom = offer.startedAt + Math.min(1000, (seconds * 1000) / 4);
  let steadyArrivals = 0;
  for (let seq = offer.fromSeq; seq < offer.toSeq; seq++) {
    duplicates += Math.max(0, log.arrivals[seq]! - 1);
    if (log.outcome[seq] !== Outcome.Accepted) continue;
    accepted++;
    const arrived = log.arrivedAt[seq];
    if (arrived === undefined) continue;
    const sent = log.sentAt[seq]!;
    latencies.push(arrived - sent);
    lastArrival = Math.max(lastArrival, arrived);
    if (arrived >= steadyFrom && arrived <= offer.offeredUntil) steadyArrivals++;
    const acceptedAt = log.acceptedAtEpoch[seq];
    if (acceptedAt !== undefined) {
      requestToAccepted.push(acceptedAt - (performance.timeOrigin + sent));
      acceptedToArrived.push(performance.timeOrigin + arrived - acceptedAt);
    }
  }
  const sorted = Float64Array.from(latencies).sort();
  const lost = accepted - latencies.length;
  const withLost = Float64Array.from([...latencies, ...Array.from({ length: lost }, () => Number.POSITIVE_INFINITY)]).sort();
  const offeringMs = offer.offeredUntil - offer.startedAt;
  const cpu = offeredCpu!;
  const saturated = (['api', 'worker', 'gateway', 'loadGenerator'] as const)
    .filter((p) => cpu[p].percentOfCore >= SATURATED_PERCENT)
    .map((p) => `${p} ${cpu[p].percentOfCore}%`);
  if (cpu.machineBusyPercent >= 90) saturated.push(`machine ${cpu.machineBusyPercent}% busy`);
  const median = (values: number[]) => percentile(Float64Array.from(values).sort(), 50);
  const arrivedSorted = Float64Array.from(acceptedToArrived).sort();
  const messages = offer.toSeq - offer.fromSeq;
  return {
    offeredPerSecond: rate,
    seconds,
    batchSize,
    requests: offer.requests,
    statusCodes: offer.statusCodes,
    requestErrors: offer.requestErrors,
    messages,
    accepted,
    refused: offer.refused,
    sentPerSecond: Math.round(messages / (offeringMs / 1000)),
    acceptedPerSecond: Math.round(accepted / (offeringMs / 1000)),
    received: latencies.length,
    lost,
    duplicates,
    deliveredPerSecond: Math.round(steadyArrivals / Math.max(0.001, (offer.offeredUntil - steadyFrom) / 1000)),
    latencyMs: {
      p50: round1(percentile(sorted, 50)),
      p90: round1(percentile(sorted, 90)),
      p99: round1(percentile(sorted, 99)),
      max: round1(sorted.at(-1) ?? Number.NaN),
    },
    p99WithLostMs: round1(percentile(withLost, 99)),
    lastArrivalAfterOfferMs: Math.round(lastArrival - offer.offeredUntil),
    maxIssueLagMs: round1(offer.maxIssueLagMs),
    loadGeneratorLoopDelayMs: { p99: round1(fleetDelay.p99), max: round1(fleetDelay.max) },
    cpu: {
      api: cpu.api,
      worker: cpu.worker,
      gateway: cpu.gateway,
      redis: cpu.redis,
      postgres: cpu.postgres,
      loadGenerator: cpu.loadGenerator,
    },
    machineBusyPercent: cpu.machineBusyPercent,
    outsideCpuPercentOfCore: Math.max(
      0,
      cpu.machineBusyPercent * availableParallelism() -
        [cpu.api, cpu.worker, cpu.gateway, cpu.redis, cpu.postgres, cpu.loadGenerator].reduce((sum, c) => sum + (c?.percentOfCore ?? 0), 0),
    ),
    gatewayCpuMicrosPerDelivery: latencies.length > 0 ? Math.round((gatewayCpuToEnd / latencies.length) * 1e6) : Number.NaN,
    saturated,
    breakdown: {
      requestToAcceptedP50: round1(median(requestToAccepted)),
      acceptedToArrivedP50: round1(percentile(arrivedSorted, 50)),
      acceptedToArrivedMean: round1(acceptedToArrived.reduce((a, b) => a + b, 0) / acceptedToArrived.length),
      acceptedToStoredMean: round1(histogramMean(workerBefore, workerAfter, 'esh3ar_accept_to_stored_seconds') * 1000),
      acceptedToPushedMean: round1(histogramMean(gatewayBefore, gatewayAfter, 'esh3ar_accept_to_device_seconds') * 1000),
      acceptedToStoredP99: histogramQuantile(workerBefore, workerAfter, 'esh3ar_accept_to_stored_seconds', 0.99) * 1000,
      acceptedToPushedP99: histogramQuantile(gatewayBefore, gatewayAfter, 'esh3ar_accept_to_device_seconds', 0.99) * 1000,
      acceptedToArrivedP99: round1(percentile(arrivedSorted, 99)),
      loopStallMaxMs: {
        gateway: round1(total(gatewayAfter, 'esh3ar_nodejs_eventloop_lag_max_seconds') * 1000),
        worker: round1(total(workerAfter, 'esh3ar_nodejs_eventloop_lag_max_seconds') * 1000),
      },
      gatewayGcMs: Object.fromEntries(
        ['minor', 'major', 'incremental', 'weakcb'].map((kind) => [
          kind,
          {
            count:
              total(gatewayAfter, 'esh3ar_nodejs_gc_duration_seconds_count', `kind="${kind}"`) -
              total(gatewayBefore, 'esh3ar_nodejs_gc_duration_seconds_count', `kind="${kind}"`),
            ms: round1(
              (total(gatewayAfter, 'esh3ar_nodejs_gc_duration_seconds_sum', `kind="${kind}"`) -
                total(gatewayBefore, 'esh3ar_nodejs_gc_duration_seconds_sum', `kind="${kind}"`)) *
                1000,
            ),
          },
        ]),
      ),
      batchRowsMean: round1(histogramMean(workerBefore, workerAfter, 'esh3ar_persist_batch_messages')),
      copyMsMean: round1(histogramMean(workerBefore, workerAfter, 'esh3ar_persist_copy_duration_seconds') * 1000),
    },
  };
}

/** Every answered id is `delivered` in PostgreSQL (polled until so, or the timeout), and why not. */
async function checkDelivered(pool: Stack['pool'], log: MessageLog): Promise<DeliveryCheck> {
  const answered: { id: string; seq: number }[] = [];
  let idMismatches = 0;
  for (let seq = 0; seq < log.size; seq++) {
    const id = log.ids[seq];
    if (log.outcome[seq] !== Outcome.Accepted || id === undefined) continue;
    answered.push({ id, seq });
    if (log.frameIds[seq] !== undefined && log.frameIds[seq] !== id) idMismatches++;
  }
  const started = performance.now();
  const read = async () => {
    const byStatus: Record<string, number> = {};
    const notDelivered: { id: string; status: string }[] = [];
    for (let i = 0; i < answered.length; i += CHUNK) {
      const ids = answered.slice(i, i + CHUNK).map((a) => a.id);
      const counts = await pool.query<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[]) GROUP BY status',
        [ids],
      );
      for (const { status, n } of counts.rows) byStatus[status] = (byStatus[status] ?? 0) + n;
      const rest = await pool.query<{ id: string; status: string }>(
        "SELECT id::text, status FROM messages WHERE id = ANY($1::uuid[]) AND status <> 'delivered'",
        [ids],
      );
      notDelivered.push(...rest.rows);
    }
    return { byStatus, notDelivered, done: (byStatus.delivered ?? 0) === answered.length };
  };
  let state = await read();
  while (!state.done && performance.now() - started < DELIVERY_CHECK_TIMEOUT_MS) {
    await sleep(1000);
    state = await read();
  }
  const { byStatus, notDelivered } = state;
  const stored = Object.values(byStatus).reduce((a, b) => a + b, 0);
  const seqOf = new Map(answered.map((a) => [a.id, a.seq]));
  let received = 0;
  for (const { id } of notDelivered) if (log.arrivedAt[seqOf.get(id)!] !== undefined) received++;
  const delivered = byStatus.delivered ?? 0;
  const problems: string[] = [];
  if (stored < answered.length) problems.push(`${answered.length - stored} answered messages are not in PostgreSQL`);
  if (received > 0) problems.push(`${received} reached a device and were acked, yet are not delivered (ack not written)`);
  if (notDelivered.length - received > 0) {
    const statuses = [...new Set(notDelivered.map((n) => n.status))].join(', ');
    problems.push(`${notDelivered.length - received} never reached a device (status ${statuses})`);
  }
  if (idMismatches > 0) problems.push(`${idMismatches} frames carried another id than the 202 for the same content`);
  return {
    answered: answered.length,
    byStatus,
    notStored: answered.length - stored,
    delivered,
    notDeliveredButReceived: received,
    notDeliveredNeverReceived: notDelivered.length - received,
    idMismatches,
    waitedMs: Math.round(performance.now() - started),
    ok: problems.length === 0 && delivered === answered.length,
    problems,
  };
}

const batchTimeoutEnv = (ms: number | null): Record<string, string> => (ms === null ? {} : { WORKER_BATCH_TIMEOUT_MS: String(ms) });

export async function gatewayPhase(settings: GatewaySettings, say: (text: string) => void): Promise<GatewayResults> {
  const loadStart = loadavg().map((n) => Math.round(n * 100) / 100);
  const [firstTimeout = null, ...otherTimeouts] = settings.workerBatchTimeouts;
  const stack = await startStack('bench-gateway', { workers: 0, gateways: 1, env: { BUFFER_CAPACITY: String(settings.bufferCapacity) } });
  const log = new MessageLog();
  const fleet = new ThreadedDeviceFleet(log);
  let sender: PacedSender | undefined;
  try {
    const api = stack.api!;
    const gateway = stack.gateways[0]!;
    const worker = await stack.startWorker(batchTimeoutEnv(firstTimeout));
    const { apiKey } = await stack.tenant('enterprise', { rpm: 100_000_000, burst: 100_000_000 });

    // Each connection is a file in the gateway and one here.
    const needed = settings.devices + 1000;
    const openFiles = { gateway: openFilesOf(gateway.pid), loadGenerator: openFilesOf('self'), needed };
    const filesOk = openFiles.gateway >= needed && openFiles.loadGenerator >= needed;
    const filesMessage = filesOk
      ? `open files: gateway ${openFiles.gateway}, load generator ${openFiles.loadGenerator} (≥ ${needed} needed)`
      : `open files too low for ${settings.devices} devices: gateway ${openFiles.gateway}, load generator ${openFiles.loadGenerator}, ${needed} needed; connects will fail (EMFILE)`;
    say(filesMessage);

    const devices = deviceCredentials(stack, settings.devices);
    await settle(gateway.pid);
    const rssBefore = procStatusKiB(gateway.pid, 'VmRSS');
    const heapBefore = total(await scrape(gateway.url), 'esh3ar_nodejs_heap_size_used_bytes');
    say(`gateway: connecting ${settings.devices} devices, ${CONNECT_CONCURRENCY} handshakes at a time`);
    const connected = await fleet.connect(`ws://127.0.0.1:${gateway.port}/v1/stream`, devices, CONNECT_CONCURRENCY);
    say(
      `gateway: ${connected.connected} connected in ${connected.seconds} s${Object.keys(connected.failed).length ? `, failed ${JSON.stringify(connected.failed)}` : ''}`,
    );
    if (connected.connected === 0) throw new Error(`no device could connect: ${JSON.stringify(connected.failed)}`);
    const readyConnections = async () =>
      ((await fetch(`${gateway.url}/health/ready`).then((r) => r.json())) as { checks?: { connections?: number } }).checks?.connections ??
      -1;
    await waitFor(readyConnections, (n) => n >= connected.connected, 120_000, 250);
    await settle(gateway.pid);
    const rssAfter = procStatusKiB(gateway.pid, 'VmRSS');
    const heapAfter = total(await scrape(gateway.url), 'esh3ar_nodejs_heap_size_used_bytes');
    say(
      `gateway: RSS ${Math.round(rssBefore / 1024)} → ${Math.round(rssAfter / 1024)} MiB (${((rssAfter - rssBefore) / connected.connected).toFixed(1)} KiB per connection)`,
    );
    const idleFrom = { cpu: cpuSeconds(gateway.pid), at: performance.now() };
    await sleep(IDLE_SAMPLE_MS);
    const idleGatewayCpuPercentOfCore =
      Math.round(((cpuSeconds(gateway.pid) - idleFrom.cpu) / ((performance.now() - idleFrom.at) / 1000)) * 1000) / 10;

    sender = new PacedSender(api.url, apiKey, fleet.phones, log);
    const ctx: Context = { stack, api, worker, gateway, sender, fleet, log, graceMs: settings.graceSeconds * 1000 };
    const warmUp = async () => {
      if (settings.warmupSeconds === 0) return;
      say(`gateway: warm-up, ${settings.rate} msg/s for ${settings.warmupSeconds} s`);
      await runStep(ctx, settings.rate, settings.warmupSeconds);
    };
    const timeoutLabel = (ms: number | null) => (ms === null ? `${PRODUCT_BATCH_TIMEOUT_MS} ms (product default)` : `${ms} ms`);

    await warmUp();
    const latency: GatewayResults['latency'] = [];
    say(`gateway: latency, ${settings.rate} msg/s for ${settings.seconds} s, worker batch timeout ${timeoutLabel(firstTimeout)}`);
    latency.push({ workerBatchTimeoutMs: firstTimeout, step: await runStep(ctx, settings.rate, settings.seconds) });

    const steps: RampStep[] = [];
    for (const rate of settings.ramp) {
      say(`gateway: ramp, ${rate} msg/s for ${settings.stepSeconds} s`);
      const step = await runStep(ctx, rate, settings.stepSeconds);
      const share = step.deliveredPerSecond / rate;
      const sustained = share >= SUSTAINED_SHARE && step.p99WithLostMs < SUSTAINED_P99_MS;
      const why = sustained
        ? `delivered ${Math.round(share * 100)}% of offered, p99 ${step.p99WithLostMs} ms`
        : [
            share < SUSTAINED_SHARE ? `delivered only ${Math.round(share * 100)}% of offered` : '',
            step.p99WithLostMs >= SUSTAINED_P99_MS ? `p99 ${step.p99WithLostMs} ms ≥ ${SUSTAINED_P99_MS} ms` : '',
          ]
            .filter(Boolean)
            .join('; ');
      steps.push({ ...step, sustained, why });
      say(
        `gateway: ${rate} msg/s → ${step.deliveredPerSecond} delivered/s, p99 ${step.latencyMs.p99} ms, lost ${step.lost}: ${sustained ? 'sustained' : `not sustained (${why})`}`,
      );
      if (!sustained) break; // higher rates only pile up a backlog
      await waitForDrain(api.url, 120_000);
    }
    const highest = steps.filter((s) => s.sustained).at(-1)?.offeredPerSecond ?? null;

    for (const timeout of otherTimeouts) {
      say(`gateway: restarting the worker with WORKER_BATCH_TIMEOUT_MS=${timeoutLabel(timeout)}`);
      await waitForDrain(api.url, 120_000);
      await ctx.worker.stop('SIGTERM');
      ctx.worker = await stack.startWorker(batchTimeoutEnv(timeout));
      await warmUp();
      say(`gateway: latency, ${settings.rate} msg/s for ${settings.seconds} s, worker batch timeout ${timeoutLabel(timeout)}`);
      latency.push({ workerBatchTimeoutMs: timeout, step: await runStep(ctx, settings.rate, settings.seconds) });
    }

    say('gateway: checking that every 202 is delivered in PostgreSQL');
    await waitForDrain(api.url, 300_000);
    const deadline = performance.now() + 30_000;
    while (log.missing(0, log.size) > 0 && performance.now() < deadline) await sleep(250);
    const delivery = await checkDelivered(stack.pool, log);
    const rssAtEnd = procStatusKiB(gateway.pid, 'VmRSS');
    const heapAtEnd = total(await scrape(gateway.url), 'esh3ar_nodejs_heap_size_used_bytes');

    return {
      settings,
      cores: availableParallelism(),
      loadAverage: { start: loadStart, end: loadavg().map((n) => Math.round(n * 100) / 100) },
      openFiles: { ...openFiles, ok: filesOk, message: filesMessage },
      connect: { ...connected, perSecond: Math.round(connected.connected / connected.seconds) },
      memory: {
        rssBeforeMiB: round1(rssBefore / 1024),
        rssAfterMiB: round1(rssAfter / 1024),
        rssPerConnectionKiB: round1((rssAfter - rssBefore) / connected.connected),
        heapUsedBeforeMiB: round1(heapBefore / 2 ** 20),
        heapUsedAfterMiB: round1(heapAfter / 2 ** 20),
        heapPerConnectionKiB: round1((heapAfter - heapBefore) / 1024 / connected.connected),
        idleGatewayCpuPercentOfCore,
        rssAtEndMiB: round1(rssAtEnd / 1024),
        heapUsedAtEndMiB: round1(heapAtEnd / 2 ** 20),
      },
      latency,
      ramp: { workerBatchTimeoutMs: firstTimeout, steps, highestSustainedPerSecond: highest },
      delivery,
      devices: {
        ...(await fleet.counters()),
        foreignFrames: log.foreignFrames,
      },
    };
  } finally {
    sender?.close();
    await fleet.close();
    await stack.close();
  }
}
