/**
 * `node bench/gateway/per-delivery.ts`: the gateway's CPU per delivered and acknowledged
 * message, against a bare `ws` server pushing the same frames to the same devices at the
 * same rate in the same run (bare-ws-server.ts: the floor for this work). Not part of
 * `pnpm bench`.
 *
 * One stack (a throwaway database and REDIS_PREFIX, no api, no worker), one gateway
 * process and one bare server, each with its own fleet of devices (worker threads,
 * device-fleet-thread.ts) that ack every message frame at once. The two take turns
 * (bare, gateway, bare, gateway, …) and the medians are reported:
 *
 * - bare: the round's frames are handed to the bare server beforehand; it sends batch k
 *   `tick` × k after the start and reads the acks (JSON.parse each).
 * - gateway: the round's messages are stored as pending first (storeBatch, the worker's
 *   COPY writer), then each tick's batch is published on the gateway's channel as a
 *   worker's dispatch does (a JSON array of DeliveryItems, publishToGateways); the round
 *   ends once every message is `delivered` in PostgreSQL and the gateway's status writer
 *   holds nothing more (its `sent` marks written too).
 *
 * Per round: CPU seconds of that server process (/proc, user + system) from the first
 * tick to the end, divided by the messages delivered and acknowledged (µs per delivery);
 * deliveries/s are the messages over the time from the first tick to the last frame at a
 * device. Writes bench/results/gateway-delivery-<date>.md and .json.
 *
 * Settings (environment):
 *   BENCH_DELIVERY_DEVICES (1000)  devices per server, one phone each
 *   BENCH_DELIVERY_RATE (4000)     messages/s offered, spread round-robin over the devices
 *   BENCH_DELIVERY_SECONDS (10)    per round
 *   BENCH_DELIVERY_ROUNDS (3)      rounds per mode
 *   BENCH_DELIVERY_WARMUP (1)      rounds per mode first, not counted: V8 is still optimizing the
 *                                  gateway's code then (16–20% of its CPU in TurboFan through the first
 *                                  two rounds of 8,000 deliveries, perf)
 *   BENCH_DELIVERY_TICK_MS (50)    one batch (one PUBLISH) per tick, as a worker publishes once per
 *                                  stored batch: at 4000 msg/s, 200 messages
 *   BENCH_DELIVERY_PROFILE (off)   on: both servers run with --cpu-prof; their self time over their rounds is printed at the end
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { sampleBufferedMessage, toMessageFrame, type BufferedMessage, type DeliveryItem } from '@esh3ar/contracts';
import { NODE_FLAGS, startApp, startStack, uuidv7, waitFor, type AppProcess } from '@esh3ar/stack';
import { expiresAt, storeBatch } from '../../packages/db/src/index.ts';
import { publishToGateways } from '../../packages/queue/src/gateway-pubsub.ts';
import { scrape, total } from '../lib/metrics-scrape.ts';
import { cpuSeconds, machineInfo, median } from '../lib/proc-stats.ts';
import { resultStamp, writeResult } from '../lib/results.ts';
import type { BareCommand, BareReply, BareStats } from './bare-ws-server.ts';
import { monotonicMicros, summarizeCpuProfile } from '../lib/cpu-profile.ts';
import { deviceCredentials } from './device-fleet.ts';
import { ThreadedDeviceFleet } from './device-fleet-thread.ts';
import { threadShares, threadTicks, type ThreadTicks } from './thread-cpu.ts';

const settings = {
  devices: Number(process.env.BENCH_DELIVERY_DEVICES ?? 1000),
  rate: Number(process.env.BENCH_DELIVERY_RATE ?? 4000),
  seconds: Number(process.env.BENCH_DELIVERY_SECONDS ?? 10),
  rounds: Number(process.env.BENCH_DELIVERY_ROUNDS ?? 3),
  warmup: Number(process.env.BENCH_DELIVERY_WARMUP ?? 1),
  tickMs: Number(process.env.BENCH_DELIVERY_TICK_MS ?? 50),
  profile: ['1', 'on', 'true'].includes(process.env.BENCH_DELIVERY_PROFILE ?? ''),
};
for (const [name, value] of Object.entries(settings)) {
  const least = name === 'warmup' ? 0 : 1;
  if (typeof value === 'number' && !(Number.isInteger(value) && value >= least))
    throw new Error(`${name} must be a whole number of at least ${least}, got ${value}`);
}
const MESSAGES = Math.round(settings.rate * settings.seconds);
const PER_TICK = Math.max(1, Math.round((settings.rate * settings.tickMs) / 1000));
const CONNECT_CONCURRENCY = 100;
/** After the last tick, for every frame to be acked (and, on the gateway, written). */
const FINISH_TIMEOUT_MS = 60_000;
const STORE_BATCH = 1000;

type Mode = 'bare' | 'gateway';

interface RoundResult {
  mode: Mode;
  round: number;
  messages: number;
  /** Acknowledged: acks the bare server read, or rows `delivered` in PostgreSQL. */
  acked: number;
  /** Message frames at the devices, re-pushes included. */
  framesAtDevices: number;
  cpuSeconds: number;
  microsPerDelivery: number;
  /** How that CPU split: the main thread's user and system time, the other threads' (GC, compiler). */
  threads: ThreadTicks;
  /** Garbage collections in the round and their time on the main thread (prom-client's timings for the gateway, the same perf_hooks entries for the bare server). */
  gc: { count: number; ms: number };
  deliveriesPerSecond: number;
  /** First tick → last frame at a device, and → the end of the round (all acked/written). */
  lastFrameMs: number;
  endMs: number;
  ok: boolean;
  problems: string[];
}

/** Counts the frames a fleet received: how many, and the last one's time (epoch ms). */
function arrivals() {
  const counted = {
    count: 0,
    lastAt: 0,
    arrived(_content: unknown, _id: string, _createdAt: unknown, at: number): void {
      counted.count++;
      counted.lastAt = Math.max(counted.lastAt, performance.timeOrigin + at);
    },
  };
  return counted;
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const percent = (share: number) => `${Math.round(share * 100)}%`;
const threadSplit = (t: ThreadTicks) =>
  `main thread ${percent(t.mainUser)} user + ${percent(t.mainSystem)} system, other threads ${percent(t.otherUser + t.otherSystem)}`;

/** The round's messages, one per phone in turn, with the DeliveryItem a worker publishes for each. */
function roundMessages(phones: readonly string[], tenantId: string, round: number): { message: BufferedMessage; item: DeliveryItem }[] {
  const acceptedAt = new Date().toISOString();
  return Array.from({ length: MESSAGES }, (_, i) => {
    const message = sampleBufferedMessage({
      id: uuidv7(),
      tenantId,
      acceptedAt,
      channel: 'app',
      recipient: phones[i % phones.length]!,
      subject: 'Order update',
      content: `Your order A-${round}-${String(i).padStart(7, '0')} has shipped and will arrive tomorrow between 10:00 and 14:00.`,
      metadata: { orderId: `A-${round}-${i}`, kind: 'shipping' },
    });
    // As the worker's toDeliveryItem (apps/worker/src/dispatch/route-deliveries.ts).
    const item: DeliveryItem = {
      id: message.id,
      tenantId: message.tenantId,
      recipient: message.recipient,
      subject: message.subject,
      content: message.content,
      priority: message.priority,
      createdAt: message.acceptedAt,
      metadata: message.metadata,
      expiresAt: expiresAt(message),
    };
    return { message, item };
  });
}

function ticks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += PER_TICK) out.push(items.slice(i, i + PER_TICK));
  return out;
}

/** Calls `each(k)` at start + k × tickMs (later if the previous call ran long). */
async function paced(count: number, each: (k: number) => Promise<void> | void): Promise<void> {
  const start = performance.now();
  for (let k = 0; k < count; k++) {
    const wait = start + k * settings.tickMs - performance.now();
    if (wait > 0) await sleep(wait);
    await each(k);
  }
}

function startBare(nodeFlags: readonly string[]): Promise<{
  pid: number;
  port: number;
  call: (command: BareCommand) => Promise<BareReply | undefined>;
  /** Disconnects it, on which it exits (writing its profile, if any). */
  stop: () => Promise<void>;
}> {
  const child = fork(new URL('./bare-ws-server.ts', import.meta.url), [], { execArgv: [...nodeFlags], stdio: 'inherit' });
  const exited = once(child, 'exit');
  let waiting: ((reply: BareReply) => void) | undefined;
  child.on('message', (reply: BareReply) => waiting?.(reply));
  const next = () => new Promise<BareReply>((resolve) => (waiting = resolve));
  return next().then((listening) => ({
    pid: child.pid!,
    port: listening.kind === 'listening' ? listening.port : 0,
    async call(command: BareCommand) {
      const reply = command.cmd === 'go' ? undefined : next();
      child.send(command);
      return reply;
    },
    async stop() {
      if (child.connected) child.disconnect();
      await exited;
    },
  }));
}

const stack = await startStack('bench-delivery', { api: false });
/** Each server's --cpu-prof directory, and its rounds on the profile's clock. */
const profiles = settings.profile
  ? {
      bare: { dir: mkdtempSync(join(tmpdir(), 'esh3ar-bare-prof-')), rounds: [] as [number, number][] },
      gateway: { dir: mkdtempSync(join(tmpdir(), 'esh3ar-gateway-prof-')), rounds: [] as [number, number][] },
    }
  : undefined;
const nodeFlags = (mode: Mode) =>
  profiles ? [...NODE_FLAGS.gateway, '--cpu-prof', '--cpu-prof-interval=250', `--cpu-prof-dir=${profiles[mode].dir}`] : NODE_FLAGS.gateway;
const redis = new Redis(stack.env.REDIS_URL!);
const gatewayArrivals = arrivals();
const bareArrivals = arrivals();
const fleets = { bare: new ThreadedDeviceFleet(bareArrivals), gateway: new ThreadedDeviceFleet(gatewayArrivals) };
let gateway: AppProcess | undefined;
let bare: Awaited<ReturnType<typeof startBare>> | undefined;
const rounds: RoundResult[] = [];
const loadStart = loadavg().map((n) => Math.round(n * 100) / 100);
try {
  gateway = await startApp('gateway', stack.env, { nodeFlags: nodeFlags('gateway') });
  const gatewayId = String(gateway.logs.find((l) => l.msg === 'gateway listening')?.gatewayId);
  bare = await startBare(nodeFlags('bare'));
  const devices = deviceCredentials(stack, settings.devices);
  const [gatewayConnect, bareConnect] = await Promise.all([
    fleets.gateway.connect(`ws://127.0.0.1:${gateway.port}/v1/stream`, devices, CONNECT_CONCURRENCY),
    fleets.bare.connect(
      `ws://127.0.0.1:${bare.port}/`,
      devices.map((d) => ({ phone: d.phone, token: encodeURIComponent(d.phone) })),
      CONNECT_CONCURRENCY,
    ),
  ]);
  for (const [mode, c] of [
    ['gateway', gatewayConnect],
    ['bare', bareConnect],
  ] as const) {
    if (c.connected !== settings.devices)
      throw new Error(`${mode}: ${c.connected} of ${settings.devices} devices connected: ${JSON.stringify(c.failed)}`);
  }
  // The gateway has registered every connection (presence, replay) before the first round.
  const ready = async () =>
    (await fetch(`${gateway!.url}/health/ready`).then((r) => r.json())) as {
      checks?: { connections?: number; statusWrites?: { pending?: number } };
    };
  await waitFor(ready, (r) => r.checks?.connections === settings.devices, 60_000, 250);
  const phones = fleets.gateway.phones;
  const tenantId = uuidv7();
  console.log(
    `${settings.devices} devices per server, ${settings.rate} msg/s for ${settings.seconds} s a round (${MESSAGES} messages, ${PER_TICK} per ${settings.tickMs} ms tick), ${settings.rounds} rounds each after ${settings.warmup} of warm-up`,
  );

  const runBare = async (round: number, measured: boolean): Promise<RoundResult> => {
    const server = bare!;
    const batches = ticks(
      roundMessages(phones, tenantId, round).map(({ item }) => [item.recipient, JSON.stringify(toMessageFrame(item))] as [string, string]),
    );
    await server.call({ cmd: 'load', batches, tickMs: settings.tickMs });
    const stats = async () => ((await server.call({ cmd: 'stats' })) as { stats: BareStats }).stats;
    const before = await stats();
    const framesBefore = bareArrivals.count;
    const cpu0 = cpuSeconds(server.pid);
    const threads0 = threadTicks(server.pid);
    const t0 = Date.now();
    const roundFrom = monotonicMicros();
    await server.call({ cmd: 'go' });
    const after = await waitFor(
      stats,
      (s) => s.acks - before.acks >= MESSAGES,
      batches.length * settings.tickMs + FINISH_TIMEOUT_MS,
      100,
    ).catch(() => stats());
    const cpu = cpuSeconds(server.pid) - cpu0;
    const threads = threadShares(threads0, threadTicks(server.pid));
    if (measured) profiles?.bare.rounds.push([roundFrom, monotonicMicros()]);
    const acked = after.acks - before.acks;
    const problems: string[] = [];
    if (acked < MESSAGES) problems.push(`${MESSAGES - acked} not acked`);
    if (after.unrouted > before.unrouted) problems.push(`${after.unrouted - before.unrouted} frames for phones with no connection`);
    if (after.badFrames > before.badFrames) problems.push(`${after.badFrames - before.badFrames} device frames were not acks`);
    return summary(
      'bare',
      round,
      acked,
      bareArrivals.count - framesBefore,
      cpu,
      threads,
      { count: after.gcCount - before.gcCount, ms: Math.round(after.gcMs - before.gcMs) },
      t0,
      bareArrivals.lastAt,
      after.lastAckAt,
      problems,
    );
  };

  const runGateway = async (round: number, measured: boolean): Promise<RoundResult> => {
    const messages = roundMessages(phones, tenantId, round);
    for (let i = 0; i < messages.length; i += STORE_BATCH) {
      await storeBatch(
        stack.pool,
        messages.slice(i, i + STORE_BATCH).map(({ message }) => ({ message, state: { status: 'pending', failureReason: null } })),
      );
    }
    const ids = messages.map((m) => m.message.id);
    const batches = ticks(messages.map((m) => m.item));
    const framesBefore = gatewayArrivals.count;
    const metricsBefore = await scrape(gateway!.url);
    const cpu0 = cpuSeconds(gateway!.pid);
    const threads0 = threadTicks(gateway!.pid);
    const t0 = Date.now();
    const roundFrom = monotonicMicros();
    await paced(batches.length, (k) => publishToGateways(redis, stack.prefix, new Map([[gatewayId, JSON.stringify(batches[k])]])));
    const deadline = Date.now() + FINISH_TIMEOUT_MS;
    const delivered = async () =>
      (
        await stack.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[]) AND status = 'delivered'`,
          [ids],
        )
      ).rows[0]!.n;
    let acked = await delivered();
    while (acked < MESSAGES && Date.now() < deadline) {
      await sleep(100);
      acked = await delivered();
    }
    // Its sent marks too: the statements a delivery costs are all in this round.
    while ((await ready()).checks?.statusWrites?.pending !== 0 && Date.now() < deadline) await sleep(20);
    const cpu = cpuSeconds(gateway!.pid) - cpu0;
    const threads = threadShares(threads0, threadTicks(gateway!.pid));
    if (measured) profiles?.gateway.rounds.push([roundFrom, monotonicMicros()]);
    const metricsAfter = await scrape(gateway!.url);
    const gcOf = (m: Map<string, number>) => ({
      count: total(m, 'esh3ar_nodejs_gc_duration_seconds_count'),
      ms: total(m, 'esh3ar_nodejs_gc_duration_seconds_sum') * 1000,
    });
    const gc = {
      count: gcOf(metricsAfter).count - gcOf(metricsBefore).count,
      ms: Math.round(gcOf(metricsAfter).ms - gcOf(metricsBefore).ms),
    };
    const problems = acked < MESSAGES ? [`${MESSAGES - acked} not delivered in PostgreSQL`] : [];
    return summary(
      'gateway',
      round,
      acked,
      gatewayArrivals.count - framesBefore,
      cpu,
      threads,
      gc,
      t0,
      gatewayArrivals.lastAt,
      Date.now(),
      problems,
    );
  };

  const summary = (
    mode: Mode,
    round: number,
    acked: number,
    framesAtDevices: number,
    cpu: number,
    threads: ThreadTicks,
    gc: RoundResult['gc'],
    t0: number,
    lastFrameAt: number,
    endAt: number,
    problems: string[],
  ): RoundResult => {
    const result: RoundResult = {
      mode,
      round,
      messages: MESSAGES,
      acked,
      framesAtDevices,
      cpuSeconds: Math.round(cpu * 1000) / 1000,
      microsPerDelivery: acked > 0 ? round1((cpu / acked) * 1e6) : Number.NaN,
      threads,
      gc,
      deliveriesPerSecond: Math.round(acked / Math.max(0.001, (lastFrameAt - t0) / 1000)),
      lastFrameMs: Math.round(lastFrameAt - t0),
      endMs: Math.round(endAt - t0),
      ok: problems.length === 0,
      problems,
    };
    console.log(
      `${mode.padEnd(7)} ${round < 0 ? 'warm-up' : `round ${round + 1}`}: ${result.microsPerDelivery} µs CPU per delivery (${result.cpuSeconds} s for ${acked}), ${result.deliveriesPerSecond} deliveries/s; ${threadSplit(threads)}; GC ${gc.count}× ${gc.ms} ms${problems.length ? `; ${problems.join('; ')}` : ''}`,
    );
    return result;
  };

  for (let round = -settings.warmup; round < settings.rounds; round++) {
    const measured = round >= 0;
    const [bareRound, gatewayRound] = [await runBare(round, measured), await runGateway(round, measured)];
    if (measured) rounds.push(bareRound, gatewayRound);
  }
} finally {
  await Promise.allSettled([fleets.bare.close(), fleets.gateway.close()]);
  // Both exit gracefully, which writes their profiles.
  await bare?.stop();
  await gateway?.stop('SIGTERM');
  await redis.quit();
  await stack.close();
}

const of = (mode: Mode) => rounds.filter((r) => r.mode === mode);
const medianOf = (mode: Mode, key: 'microsPerDelivery' | 'deliveriesPerSecond') => round1(median(of(mode).map((r) => r[key])));
const figures = {
  bare: { microsPerDelivery: medianOf('bare', 'microsPerDelivery'), deliveriesPerSecond: medianOf('bare', 'deliveriesPerSecond') },
  gateway: { microsPerDelivery: medianOf('gateway', 'microsPerDelivery'), deliveriesPerSecond: medianOf('gateway', 'deliveriesPerSecond') },
};
const ratio = Math.round((figures.gateway.microsPerDelivery / figures.bare.microsPerDelivery) * 100) / 100;
const ok = rounds.every((r) => r.ok);
const at = new Date();
const result = {
  at: at.toISOString(),
  settings: { ...settings, messagesPerRound: MESSAGES, messagesPerTick: PER_TICK },
  machine: machineInfo(),
  loadAverage: { start: loadStart, end: loadavg().map((n) => Math.round(n * 100) / 100) },
  medians: figures,
  gatewayToBare: ratio,
  ok,
  rounds,
};

const lines = [
  `# Gateway CPU per delivery, ${at.toISOString()}`,
  '',
  `\`node bench/gateway/per-delivery.ts\`: ${settings.devices} devices per server acking every frame, ${settings.rate} msg/s for ${settings.seconds} s a round (${PER_TICK} messages per ${settings.tickMs} ms tick), ${settings.rounds} alternating rounds per mode after ${settings.warmup} not counted (warm-up); ${result.machine.cores} cores (${result.machine.cpuModel}), Node ${result.machine.node}, load average ${loadStart.join(' ')} → ${result.loadAverage.end.join(' ')}.`,
  '',
  '| | µs CPU per delivery (median) | deliveries/s (median) |',
  '| --- | --- | --- |',
  `| bare \`ws\` (same frames, acks parsed) | ${figures.bare.microsPerDelivery} | ${figures.bare.deliveriesPerSecond} |`,
  `| gateway (published as a worker does, acks written) | ${figures.gateway.microsPerDelivery} | ${figures.gateway.deliveriesPerSecond} |`,
  `| gateway / bare | ${ratio} | |`,
  '',
  ok
    ? 'Every message of every round was acked (bare) and `delivered` in PostgreSQL (gateway).'
    : '**Not every message was acked or delivered**: see the rounds.',
  '',
  "CPU split: of the process's CPU time in the round, the main thread's user and system time, and the other threads' (V8's GC and compiler threads, libuv's pool).",
  '',
  '| round | mode | µs per delivery | CPU s | CPU split | GC (main thread) | acked | frames at devices | deliveries/s | last frame (ms) | end (ms) | problems |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rounds.map(
    (r) =>
      `| ${r.round + 1} | ${r.mode} | ${r.microsPerDelivery} | ${r.cpuSeconds} | ${threadSplit(r.threads)} | ${r.gc.count}× ${r.gc.ms} ms | ${r.acked} | ${r.framesAtDevices} | ${r.deliveriesPerSecond} | ${r.lastFrameMs} | ${r.endMs} | ${r.problems.join('; ')} |`,
  ),
  '',
];
const stamp = resultStamp(at);
console.log(lines.join('\n'));
console.log(`wrote ${writeResult(`gateway-delivery-${stamp}.md`, lines.join('\n'))}`);
writeResult(`gateway-delivery-${stamp}.json`, JSON.stringify(result, null, 2));
for (const mode of ['bare', 'gateway'] as const) {
  if (!profiles) break;
  const { dir, rounds: windows } = profiles[mode];
  // Kept with the profile, for a closer look (Chrome DevTools, or summarizeCpuProfile with other windows).
  writeFileSync(join(dir, 'rounds.json'), JSON.stringify(windows));
  console.log(`\n${mode}, over its rounds (profile and the rounds' windows in monotonic µs: ${dir}):`);
  console.log(summarizeCpuProfile(dir, windows).join('\n'));
}
if (!ok) process.exitCode = 1;
