import type { Logger } from 'pino';
import type { DeviceHub } from './device-hub.ts';
import { heartbeatFrame } from './frames.ts';
import { sweepEvery } from './sweep.ts';

export interface PingSweepOptions {
  hub: DeviceHub;
  logger: Logger;
  /** websocket.pingIntervalMs */
  intervalMs: number;
}

/**
 * Every ping interval: drops connections that did not answer the last ping, pings the
 * rest and sends them a heartbeat frame (DeviceHub.ping), its slices spread over the first half of the interval:
 * 10,000 pings at once come back as 10,000 pongs at once, a stall for the gateway and
 * for whatever holds many of the devices (a NAT, a proxy, the benchmark's device
 * thread: ~300 ms).
 */
export class PingSweep {
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor({ hub, logger, intervalMs }: PingSweepOptions) {
    const heartbeat = heartbeatFrame(intervalMs);
    this.#timer = sweepEvery({
      intervalMs,
      spreadMs: intervalMs / 2,
      connections: () => hub.connections(),
      each: (slice) => {
        for (const c of slice) hub.ping(c, heartbeat);
      },
      stopped: () => this.#closed,
      logger,
    });
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }
}
