import { setImmediate as nextTurn } from 'node:timers/promises';
import { refreshPresence } from '@esh3ar/queue';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Connection, DeviceHub } from './device-hub.ts';
import { presenceOf } from './device-stream.ts';

/**
 * Connections per slice of a sweep. Pinging 10,000 connections (a socket write each)
 * or refreshing their presence (30,000 Redis commands built and parsed) in one go
 * stalled the gateway's event loop for ~400 ms, and every delivery with it
 * (`pnpm bench`, gateway phase, "longest loop stall"). A slice of 500 takes a few ms.
 */
const SLICE = 500;

/**
 * Every ping interval: drops connections that did not answer the last ping, pings
 * the rest, and refreshes their presence well within its TTL (three refreshes per TTL).
 * Both sweeps go through the connections a slice at a time, yielding to the event loop
 * between slices, so that live deliveries are never held up behind them.
 */
export class Heartbeat {
  #pingTimer: NodeJS.Timeout;
  #presenceTimer: NodeJS.Timeout;
  #closed = false;
  readonly #logger: Logger;

  constructor(hub: DeviceHub, redis: Redis, prefix: string, gatewayId: string, logger: Logger, pingIntervalMs: number, presenceTtlMs: number) {
    this.#logger = logger;
    this.#pingTimer = this.#every(pingIntervalMs, hub, (slice) => {
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
    this.#presenceTimer = this.#every(Math.max(100, Math.floor(presenceTtlMs / 3)), hub, (slice) =>
      refreshPresence(redis, prefix, slice.filter((c) => c.socket.readyState === c.socket.OPEN).map((c) => presenceOf(gatewayId, c)), presenceTtlMs).catch((error: Error) =>
        logger.warn({ err: error }, 'presence not refreshed; retrying at the next beat'),
      ),
    );
  }

  /** A sweep over the connections every `intervalMs`; a sweep still running when the next is due lets that one pass. */
  #every(intervalMs: number, hub: DeviceHub, each: (slice: readonly Connection[]) => void | Promise<void>): NodeJS.Timeout {
    let sweeping = false;
    const timer = setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      this.#sweep(hub.connections(), each)
        .catch((error: Error) => this.#logger.warn({ err: error }, 'heartbeat sweep failed; retrying at the next beat'))
        .finally(() => {
          sweeping = false;
        });
    }, intervalMs);
    timer.unref();
    return timer;
  }

  async #sweep(connections: readonly Connection[], each: (slice: readonly Connection[]) => void | Promise<void>): Promise<void> {
    for (let i = 0; i < connections.length && !this.#closed; i += SLICE) {
      if (i > 0) await nextTurn();
      await each(connections.slice(i, i + SLICE));
    }
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#pingTimer);
    clearInterval(this.#presenceTimer);
  }
}
