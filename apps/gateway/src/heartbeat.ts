import { refreshPresence } from '@esh3ar/queue';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { DeviceHub } from './device-hub.ts';
import { presenceOf } from './device-stream.ts';

/**
 * Every ping interval: drops connections that did not answer the last ping, pings
 * the rest, and refreshes their presence well within its TTL (three refreshes per TTL).
 */
export class Heartbeat {
  #pingTimer: NodeJS.Timeout;
  #presenceTimer: NodeJS.Timeout;

  constructor(hub: DeviceHub, redis: Redis, prefix: string, gatewayId: string, logger: Logger, pingIntervalMs: number, presenceTtlMs: number) {
    this.#pingTimer = setInterval(() => {
      for (const c of hub.connections()) {
        if (!c.alive) {
          c.socket.terminate();
          continue;
        }
        c.alive = false;
        c.socket.ping();
      }
    }, pingIntervalMs);
    this.#presenceTimer = setInterval(() => {
      refreshPresence(redis, prefix, hub.connections().map((c) => presenceOf(gatewayId, c)), presenceTtlMs).catch((error: Error) =>
        logger.warn({ err: error }, 'presence not refreshed; retrying at the next beat'),
      );
    }, Math.max(100, Math.floor(presenceTtlMs / 3)));
    this.#pingTimer.unref();
    this.#presenceTimer.unref();
  }

  close(): void {
    clearInterval(this.#pingTimer);
    clearInterval(this.#presenceTimer);
  }
}
