/**
 * Memory per idle device connection on one gateway process, outside `pnpm bench`:
 *
 *   node bench/gateway/memory.ts [--devices 10000] [--concurrency 200] [--snapshot FILE] [--profile FILE]
 *                                [--node-options="--max-semi-space-size=8"] [--env KEY=VALUE ...] [--runs 1]
 *
 * Each run starts one gateway (stack kit, its own database and REDIS_PREFIX), then:
 *
 * 1. "as pnpm bench": RSS (/proc) and V8 heap used (/metrics) once the gateway is quiet,
 *    connect the devices, wait until the gateway counts them all and has run a replay
 *    for each, quiet again, same two figures — the gateway phase of `pnpm bench` (bench/gateway/phase.ts).
 * 2. "retained": a full GC through the inspector, heap used and RSS with every device
 *    still connected; then all devices close, the gateway counts none, a full GC again.
 *    The heap difference between the two GCs, per device, is what a connection keeps
 *    (the code JIT-compiled for the connect storm is in both, so not counted).
 *
 * The gateway runs with --inspect on a free 127.0.0.1 port; both processes need a
 * `ulimit -n` above the device count. RSS varies by ±2 KiB per connection from run to
 * run (V8 collects the storm's garbage at different moments): compare with --runs 3.
 *
 * With --snapshot, a heap snapshot is written after step 2's first GC (open it in
 * Chrome DevTools; compare with one taken with --devices 0 or fewer devices). With
 * --profile, a sampling heap profile of every allocation made while the devices
 * connect, garbage included (a .heapprofile for DevTools): what the storm churns.
 */
import { once } from 'node:events';
import { createWriteStream, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { freePort, startStack, waitFor, type AppProcess } from '@esh3ar/stack';
import { WebSocket, type RawData } from 'ws';
import { deviceCredentials, DeviceFleet } from './device-fleet.ts';
import { MessageLog } from './paced-load.ts';
import { scrape, total } from '../lib/metrics-scrape.ts';
import { procStatusKiB, settle } from '../lib/proc-stats.ts';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '200' },
    runs: { type: 'string', default: '1' },
    snapshot: { type: 'string' },
    profile: { type: 'string' },
    'node-options': { type: 'string', default: '' },
    env: { type: 'string', multiple: true, default: [] },
  },
});
const DEVICES = Number(args.devices);
const CONCURRENCY = Number(args.concurrency);
const RUNS = Number(args.runs);
const GATEWAY_ENV = Object.fromEntries(args.env.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));

interface RunResult {
  devices: number;
  connectSeconds: number;
  bench: { rssBeforeKiB: number; rssAfterKiB: number; heapBeforeBytes: number; heapAfterBytes: number };
  retained: { heapConnectedBytes: number; heapClosedBytes: number; rssConnectedKiB: number };
  /** V8 heap spaces' committed size, in MiB, before and after connecting (where RSS went). */
  spacesMiB: Record<string, [number, number]>;
}

/** Each V8 heap space's committed size in MiB (esh3ar_nodejs_heap_space_size_total_bytes). */
async function spaces(url: string): Promise<Record<string, number>> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const sizes: Record<string, number> = {};
  for (const match of text.matchAll(/^esh3ar_nodejs_heap_space_size_total_bytes\{[^}]*space="(\w+)"[^}]*\} (\d+)/gm)) {
    const bytes = Number(match[2]);
    if (bytes > 0) sizes[match[1]!] = Math.round(bytes / 104_857.6) / 10;
  }
  return sizes;
}

/** The sum of every series of `name` with every label of `labels` (bench/lib/metrics-scrape.ts). */
const metric = async (url: string, name: string, ...labels: string[]) => total(await scrape(url), name, ...labels);
const rssKiB = (pid: number) => procStatusKiB(pid, 'VmRSS');

/** The Chrome DevTools protocol over the gateway's --inspect port: full GCs and heap snapshots. */
class Inspector {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  #nextId = 1;
  #onChunk: ((chunk: string) => void) | null = null;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.on('message', (data: RawData) => {
      const message = JSON.parse((data as Buffer).toString('utf8')) as {
        id?: number;
        method?: string;
        params?: { chunk?: string };
        result?: unknown;
        error?: { message: string };
      };
      if (message.method === 'HeapProfiler.addHeapSnapshotChunk') this.#onChunk?.(message.params!.chunk!);
      if (message.id === undefined) return;
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error) pending?.reject(new Error(message.error.message));
      else pending?.resolve(message.result);
    });
  }

  static async open(port: number): Promise<Inspector> {
    const [target] = (await fetch(`http://127.0.0.1:${port}/json/list`).then((r) => r.json())) as { webSocketDebuggerUrl: string }[];
    const socket = new WebSocket(target!.webSocketDebuggerUrl, { perMessageDeflate: false, maxPayload: 0 });
    await once(socket, 'open');
    return new Inspector(socket);
  }

  call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#nextId++;
    this.#socket.send(JSON.stringify({ id, method, params }));
    return new Promise<T>((resolve, reject) => this.#pending.set(id, { resolve: resolve as (r: unknown) => void, reject }));
  }

  /**
   * Heap used after a full GC: the least of three GCs 1.5 s apart, since a heartbeat
   * sweep in flight holds more per connection (a per-device presence refresh, before
   * presence became one beat per gateway, read 7.5 KiB as 10.9 KiB once).
   */
  async collectedHeap(): Promise<number> {
    let least = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 1500));
      await this.call('HeapProfiler.collectGarbage');
      least = Math.min(least, (await this.call<{ usedSize: number }>('Runtime.getHeapUsage')).usedSize);
    }
    return least;
  }

  async snapshot(file: string): Promise<void> {
    const out = createWriteStream(file);
    this.#onChunk = (chunk) => out.write(chunk);
    await this.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    this.#onChunk = null;
    out.end();
    await once(out, 'close');
  }

  close(): void {
    this.#socket.close();
  }
}

async function measureOnce(): Promise<RunResult> {
  const stack = await startStack('bench-gateway-memory', { api: false });
  const fleet = new DeviceFleet(new MessageLog());
  let inspector: Inspector | undefined;
  try {
    const inspectPort = await freePort();
    const gateway: AppProcess = await stack.startGateway({
      ...GATEWAY_ENV,
      NODE_OPTIONS: `--inspect=127.0.0.1:${inspectPort} ${args['node-options']}`.trim(),
    });
    inspector = await Inspector.open(inspectPort);
    const devices = deviceCredentials(stack, DEVICES);
    const heapUsed = () => metric(gateway.url, 'esh3ar_nodejs_heap_size_used_bytes');
    const connections = () => metric(gateway.url, 'esh3ar_gateway_connections');
    const replays = () => metric(gateway.url, 'esh3ar_db_statement_duration_seconds_count', 'statement="replay-messages"');

    await settle(gateway.pid);
    const rssBeforeKiB = rssKiB(gateway.pid);
    const heapBeforeBytes = await heapUsed();
    const spacesBefore = await spaces(gateway.url);
    if (args.profile) {
      await inspector.call('HeapProfiler.startSampling', {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
    }
    const connect = await fleet.connect(`ws://127.0.0.1:${gateway.port}/v1/stream`, devices, CONCURRENCY);
    if (connect.connected !== DEVICES) throw new Error(`${connect.connected} of ${DEVICES} connected: ${JSON.stringify(connect.failed)}`);
    // Idle: every connection registered and its replay (one empty page) answered.
    await waitFor(connections, (n) => n === DEVICES, 120_000, 100);
    await waitFor(replays, (n) => n >= DEVICES, 120_000, 100);
    await settle(gateway.pid);
    if (args.profile) {
      const { profile } = await inspector.call<{ profile: unknown }>('HeapProfiler.stopSampling');
      writeFileSync(args.profile, JSON.stringify(profile));
    }
    const rssAfterKiB = rssKiB(gateway.pid);
    const heapAfterBytes = await heapUsed();
    const spacesAfter = await spaces(gateway.url);
    const spacesMiB: Record<string, [number, number]> = {};
    for (const k of Object.keys({ ...spacesBefore, ...spacesAfter })) spacesMiB[k] = [spacesBefore[k] ?? 0, spacesAfter[k] ?? 0];

    const heapConnectedBytes = await inspector.collectedHeap();
    const rssConnectedKiB = rssKiB(gateway.pid);
    if (args.snapshot) await inspector.snapshot(RUNS > 1 ? `${args.snapshot}.${Date.now()}` : args.snapshot);
    fleet.close();
    await waitFor(connections, (n) => n === 0, 120_000, 100);
    const heapClosedBytes = await inspector.collectedHeap();
    return {
      devices: DEVICES,
      connectSeconds: connect.seconds,
      bench: { rssBeforeKiB, rssAfterKiB, heapBeforeBytes, heapAfterBytes },
      retained: { heapConnectedBytes, heapClosedBytes, rssConnectedKiB },
      spacesMiB,
    };
  } finally {
    inspector?.close();
    fleet.close();
    await stack.close();
  }
}

const perDevice = (n: number, devices: number) => Math.round((n / Math.max(1, devices)) * 10) / 10;

for (let run = 1; run <= RUNS; run++) {
  const r = await measureOnce();
  const { bench, retained } = r;
  console.log(
    JSON.stringify({
      run,
      devices: r.devices,
      nodeOptions: args['node-options'],
      connectSeconds: r.connectSeconds,
      rssPerConnectionKiB: perDevice(bench.rssAfterKiB - bench.rssBeforeKiB, r.devices),
      heapPerConnectionKiB: perDevice((bench.heapAfterBytes - bench.heapBeforeBytes) / 1024, r.devices),
      retainedHeapPerConnectionKiB: perDevice((retained.heapConnectedBytes - retained.heapClosedBytes) / 1024, r.devices),
      rssAfterGcPerConnectionKiB: perDevice(retained.rssConnectedKiB - bench.rssBeforeKiB, r.devices),
      rssMiB: { before: Math.round(bench.rssBeforeKiB / 102.4) / 10, after: Math.round(bench.rssAfterKiB / 102.4) / 10 },
      heapSpacesMiB: r.spacesMiB,
    }),
  );
}
