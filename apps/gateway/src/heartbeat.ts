import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { addPresence, beatGateway, PRESENCE_KEY_TTL_MS, touchPresence } from '@esh3ar/queue';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Connection, DeviceHub } from './device-hub.ts';
import { presenceOf } from './device-stream.ts';

/**
 * Connections per slice of a sweep. Pinging 10,000 connections (a socket write each)
 * in one go stalled the gateway's event loop for ~400 ms, and every delivery with it
 * (`pnpm bench`, gateway phase, "longest loop stall"). A slice of 500 takes a few ms.
 */
const SLICE = 500;

/**
 * Every ping interval: drops connections that did not answer the last ping and pings
 * the rest, its slices spread over the first half of the interval: 10,000 pings at once
 * come back as 10,000 pongs at once, a stall for the gateway and for whatever holds
 * many of the devices (a NAT, a proxy, the benchmark's device thread: ~300 ms). Three times per presence TTL: beats for this gateway, one Redis command
 * whatever the number of devices (see @esh3ar/queue presence); after a lapse it adds
 * every connection's presence again. Every hour: keeps its phones' presence keys from
 * expiring. The sweeps go through the connections a slice at a time, yielding to the
 * event loop between slices, so that live deliveries are never held up behind them.
 */
export class Heartbeat {
  readonly #timers: NodeJS.Timeout[];
  #closed = false;
  readonly #logger: Logger;

  constructor(hub: DeviceHub, redis: Redis, prefix: string, gatewayId: string, logger: Logger, pingIntervalMs: number, presenceTtlMs: number) {
    this.#logger = logger;
    const open = (slice: readonly Connection[]) => slice.filter((c) => c.socket.readyState === c.socket.OPEN);
    let beating = false;
    // Set when a beat finds the presence lapsed; cleared once every connection is added again.
    let mustAddAll = false;
    const beat = setInterval(() => {
      if (beating) return;
      beating = true;
      (async () => {
        const { lapsed } = await beatGateway(redis, prefix, gatewayId, presenceTtlMs);
        if (lapsed) {
          mustAddAll = true;
          logger.warn({ connections: hub.connectionCount }, 'presence lapsed (no beat within its TTL); adding every connection again');
        }
        if (!mustAddAll) return;
        await this.#sweep(hub.connections(), (slice) => addPresence(redis, prefix, open(slice).map((c) => presenceOf(gatewayId, c))));
        mustAddAll = false;
      })()
        .catch((error: Error) => logger.warn({ err: error }, 'presence beat failed; retrying at the next beat'))
        .finally(() => {
          beating = false;
        });
    }, Math.max(100, Math.floor(presenceTtlMs / 3)));
    beat.unref();
    const ping = this.#every(pingIntervalMs, pingIntervalMs / 2, hub, (slice) => {
      for (const c of slice) {
        if (c.socket.readyState !== c.socket.OPEN) continue; // closed since the sweep began
        if (!c.alive) {
          c.socket.terminate();
          continue;
        }
        c.alive = false;
        c.socket.ping();
      }
    });
    const touch = this.#every(PRESENCE_KEY_TTL_MS / 24, PRESENCE_KEY_TTL_MS / 48, hub, (slice) => touchPresence(redis, prefix, open(slice).map((c) => c.phone)));
    this.#timers = [ping, beat, touch];
  }

  /**
   * A sweep over the connections every `intervalMs`, its slices spread over `spreadMs`;
   * a sweep still running when the next is due lets that one pass.
   */
  #every(intervalMs: number, spreadMs: number, hub: DeviceHub, each: (slice: readonly Connection[]) => void | Promise<void>): NodeJS.Timeout {
    let sweeping = false;
    const timer = setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      this.#sweep(hub.connections(), each, spreadMs)
        .catch((error: Error) => this.#logger.warn({ err: error }, 'heartbeat sweep failed; retrying at the next beat'))
        .finally(() => {
          sweeping = false;
        });
    }, intervalMs);
    timer.unref();
    return timer;
  }

  /** Calls `each` on slices of the connections, yielding between slices, or pausing so that they spread over `spreadMs`. */
  async #sweep(connections: readonly Connection[], each: (slice: readonly Connection[]) => void | Promise<void>, spreadMs = 0): Promise<void> {
    const pause = spreadMs / Math.ceil(connections.length / SLICE);
    for (let i = 0; i < connections.length && !this.#closed; i += SLICE) {
      if (i > 0) await (pause >= 1 ? sleep(pause, undefined, { ref: false }) : nextTurn());
      await each(connections.slice(i, i + SLICE));
    }
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
  }
}
