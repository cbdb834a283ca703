import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { DeviceFleet, type ConnectResult } from './device-fleet.ts';
import type { MessageLog } from './paced-load.ts';

/** What the fleet's thread counted (see DeviceFleet). */
export interface FleetCounters {
  unexpectedCloses: number;
  unreadableFrames: number;
  errorFrames: number;
  acksSent: number;
}

type Command =
  | { seq: number; cmd: 'connect'; url: string; devices: { phone: string; token: string }[]; concurrency: number }
  | { seq: number; cmd: 'loopDelay' }
  | { seq: number; cmd: 'counters' }
  | { seq: number; cmd: 'close' };

/** Omit over each member of a union. */
type WithoutSeq<T> = T extends unknown ? Omit<T, 'seq'> : never;

type Reply = { kind: 'reply'; seq: number; value: unknown } | { kind: 'arrivals'; items: unknown[] };

// Arrivals are sent to the main thread this often, each with the time it happened.
const FLUSH_MS = 10;

/**
 * The device fleet in a worker thread of its own: frames are received, timed and acked
 * there, away from the orchestrating thread's work and garbage (the load generator,
 * the message log), whose pauses reached 300 ms and were timed into the devices'
 * latencies. Arrival times cross over as epoch milliseconds and are turned back into
 * this thread's performance.now() for the MessageLog.
 */
export class ThreadedDeviceFleet {
  readonly phones: string[] = [];
  readonly #worker: Worker;
  readonly #pending = new Map<number, (value: unknown) => void>();
  #seq = 0;

  constructor(log: Pick<MessageLog, 'arrived'>) {
    this.#worker = new Worker(new URL(import.meta.url));
    this.#worker.on('message', (message: Reply) => {
      if (message.kind === 'arrivals') {
        const origin = performance.timeOrigin;
        const items = message.items;
        for (let i = 0; i < items.length; i += 4)
          log.arrived(items[i], items[i + 1] as string, items[i + 2], (items[i + 3] as number) - origin);
        return;
      }
      this.#pending.get(message.seq)?.(message.value);
      this.#pending.delete(message.seq);
    });
    this.#worker.on('error', (error) => {
      for (const resolve of this.#pending.values()) resolve(error);
    });
    this.#worker.unref();
  }

  #call<T>(command: WithoutSeq<Command>): Promise<T> {
    const seq = ++this.#seq;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(seq, (value) => (value instanceof Error ? reject(value) : resolve(value as T)));
      this.#worker.postMessage({ ...command, seq });
    });
  }

  async connect(streamUrl: string, devices: readonly { phone: string; token: string }[], concurrency: number): Promise<ConnectResult> {
    const { result, phones } = await this.#call<{ result: ConnectResult; phones: string[] }>({
      cmd: 'connect',
      url: streamUrl,
      devices: [...devices],
      concurrency,
    });
    this.phones.push(...phones);
    return result;
  }

  /** The fleet thread's event-loop delay (ms) since the previous call: how late arrivals may have been timed. */
  loopDelay(): Promise<{ p99: number; max: number }> {
    return this.#call({ cmd: 'loopDelay' });
  }

  counters(): Promise<FleetCounters> {
    return this.#call({ cmd: 'counters' });
  }

  async close(): Promise<void> {
    await this.#call({ cmd: 'close' });
    await this.#worker.terminate();
  }
}

function runFleetThread(port: NonNullable<typeof parentPort>): void {
  let buffered: unknown[] = [];
  const flush = () => {
    if (buffered.length === 0) return;
    port.postMessage({ kind: 'arrivals', items: buffered } satisfies Reply);
    buffered = [];
  };
  const fleet = new DeviceFleet({
    arrived(content: unknown, id: string, createdAt: unknown, at: number) {
      buffered.push(content, id, createdAt, performance.timeOrigin + at);
    },
  });
  setInterval(flush, FLUSH_MS);
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  port.on('message', (command: Command) => {
    const answer = (value: unknown) => {
      flush(); // every arrival before the answer
      port.postMessage({ kind: 'reply', seq: command.seq, value } satisfies Reply);
    };
    switch (command.cmd) {
      case 'connect':
        void fleet.connect(command.url, command.devices, command.concurrency).then((result) => answer({ result, phones: fleet.phones }));
        return;
      case 'loopDelay':
        answer({ p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 });
        delay.reset();
        return;
      case 'counters':
        answer({
          unexpectedCloses: fleet.unexpectedCloses,
          unreadableFrames: fleet.unreadableFrames,
          errorFrames: fleet.errorFrames,
          acksSent: fleet.acksSent,
        } satisfies FleetCounters);
        return;
      case 'close':
        fleet.close();
        answer(null);
        return;
    }
  });
}

if (!isMainThread && parentPort) runFleetThread(parentPort);
