import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { addPresence, beatGateway, PRESENCE_KEY_TTL_MS } from '@esh3ar/queue';
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
const CLOSE_WAIT_MS = 2000;

/**
 * Every ping interval: drops connections that did not answer the last ping and pings
 * the rest, its slices spread over the first half of the interval: 10,000 pings at once
 * come back as 10,000 pongs at once, a stall for the gateway and for whatever holds
 * many of the devices (a NAT, a proxy, the benchmark's device thread: ~300 ms).
 *
 * Three times per presence TTL: beats for this gateway, one Redis command whatever the
 * number of devices (see @esh3ar/queue presence). After a lapse it re-adds every
 * connection and replays to each what was stored meanwhile (routed nowhere while this
 * gateway counted as gone). Every hour it re-adds any entry that went missing, replays
 * to those connections, and keeps the keys from expiring. The sweeps go through the
 * connections a slice at a time, yielding to the event loop between slices, so that
 * live deliveries are never held up behind them.
 */
export class Heartbeat {
  readonly #timers: NodeJS.Timeout[];
  #closed = false;
  #beat: Promise<void> = Promise.resolve();
  #readd: Promise<void> = Promise.resolve();
  readonly #logger: Logger;

  constructor(hub: DeviceHub, redis: Redis, prefix: string, gatewayId: string, logger: Logger, pingIntervalMs: number, presenceTtlMs: number) {
    this.#logger = logger;
    const open = (slice: readonly Connection[]) => slice.filter((c) => c.socket.readyState === c.socket.OPEN);
    // The re-add after a lapse runs beside the beats, so that a long one cannot let the
    // gateway lapse again. A lapse seen while it runs starts another at once when it
    // ends; a failed one is retried at the next beat.
    let readding = false;
    let lapsedAgain = false;
    let failed = false;
    const readdAll = (): void => {
      if (this.#closed) return;
      if (readding) {
        lapsedAgain = true;
        return;
      }
      readding = true;
      lapsedAgain = false;
      failed = false;
      this.#readd = (async () => {
        const connections = open(hub.connections());
        // Live messages wait from now on, so that none overtakes one stored meanwhile.
        const held = new Set(connections.filter((c) => hub.holdForReplay(c)));
        try {
          await this.#sweep(connections, (slice) => addPresence(redis, prefix, open(slice).map((c) => presenceOf(gatewayId, c))).then(() => undefined));
        } finally {
          // A connection whose own replay was running when the re-add began is held
          // again now that its entry is back, so that its last read comes after it.
          for (const c of open(connections)) if (!held.has(c) && hub.holdForReplay(c)) held.add(c);
          // The hub runs a few at once and retries those PostgreSQL fails.
          await Promise.all([...held].map((c) => hub.replay(c)));
        }
        if (!this.#closed) logger.info({ connections: connections.length }, 'presence re-added after a lapse');
      })()
        .catch((error: Error) => {
          failed = true;
          logger.warn({ err: error }, 'presence not re-added; retrying at the next beat');
        })
        .finally(() => {
          readding = false;
          if (lapsedAgain) readdAll();
        });
    };
    let beating = false;
    const beat = setInterval(() => {
      if (beating) return;
      beating = true;
      this.#beat = beatGateway(redis, prefix, gatewayId, presenceTtlMs)
        .then(({ lapsed }) => {
          if (lapsed) logger.warn({ connections: hub.connectionCount }, 'presence lapsed (no beat within its TTL); adding every connection again');
          if (lapsed || failed) readdAll();
        })
        .catch((error: Error) => logger.warn({ err: error }, 'presence beat failed; retrying at the next beat'))
        .finally(() => {
          beating = false;
        });
    }, Math.max(100, Math.floor(presenceTtlMs / 3)));
    beat.unref();
    const ping = this.#every(pingIntervalMs, pingIntervalMs / 2, hub, (slice) => {
      for (const c of slice) {
        if (c.socket.readyState !== c.socket.OPEN) continue; // closed since the sweep began
        // Not read under back-pressure (device-hub.ts): its pong could not be seen.
        if (c.socket.isPaused) continue;
        if (!c.alive) {
          c.socket.terminate();
          continue;
        }
        c.alive = false;
        c.socket.ping();
      }
    });
    const touch = this.#every(PRESENCE_KEY_TTL_MS / 24, PRESENCE_KEY_TTL_MS / 48, hub, async (slice) => {
      const live = open(slice);
      const missing = await addPresence(redis, prefix, live.map((c) => presenceOf(gatewayId, c)), { onlyMissing: true });
      const lost = live.filter((c, i) => missing[i] && hub.holdForReplay(c));
      if (lost.length > 0) logger.warn({ connections: lost.length }, 'presence entries had gone missing; re-added, replaying to them');
      await Promise.all(lost.map((c) => hub.replay(c)));
    });
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

  /**
   * Stops the timers and waits, at most CLOSE_WAIT_MS, for a beat or re-add in flight,
   * so that none lands after the gateway retires (Redis down: they wait in its queue).
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    await Promise.race([Promise.allSettled([this.#beat, this.#readd]), sleep(CLOSE_WAIT_MS, undefined, { ref: false })]);
  }
}
