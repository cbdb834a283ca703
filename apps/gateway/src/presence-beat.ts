import { setTimeout as sleep } from 'node:timers/promises';
import { addPresence, beatGateway, PRESENCE_KEY_TTL_MS } from '@esh3ar/queue/presence';
import type { Logger } from 'pino';
import type { Connection, DeviceHub } from './device-hub.ts';
import { presenceOf } from './device-stream.ts';
import { sweepEvery, sweepSlices } from './sweep.ts';
import type { RedisClient } from '@esh3ar/queue';

const CLOSE_WAIT_MS = 2000;

export interface PresenceBeatOptions {
  hub: DeviceHub;
  redis: RedisClient;
  prefix: string;
  gatewayId: string;
  logger: Logger;
  /** presence.ttlMs */
  ttlMs: number;
}

/**
 * Three times per presence TTL: beats for this gateway, one Redis command whatever the
 * number of devices (see @esh3ar/queue presence). After a lapse it re-adds every
 * connection and replays to each what was stored meanwhile (routed nowhere while this
 * gateway counted as gone). Every hour it re-adds any entry that went missing, replays
 * to those connections, and keeps the keys from expiring. Both go through the
 * connections a slice at a time (sweep.ts).
 */
export class PresenceBeat {
  readonly #timers: NodeJS.Timeout[];
  #closed = false;
  #beat: Promise<void> = Promise.resolve();
  #readd: Promise<void> = Promise.resolve();

  constructor({ hub, redis, prefix, gatewayId, logger, ttlMs }: PresenceBeatOptions) {
    const open = (slice: readonly Connection[]) => slice.filter((c) => c.socket.readyState === c.socket.OPEN);
    const stopped = () => this.#closed;
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
          await sweepSlices(
            connections,
            (slice) =>
              addPresence(
                redis,
                prefix,
                open(slice).map((c) => presenceOf(gatewayId, c)),
              ).then(() => undefined),
            stopped,
          );
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
    const beat = setInterval(
      () => {
        if (beating) return;
        beating = true;
        this.#beat = beatGateway(redis, prefix, gatewayId, ttlMs)
          .then(({ lapsed }) => {
            if (lapsed)
              logger.warn({ connections: hub.connectionCount }, 'presence lapsed (no beat within its TTL); adding every connection again');
            if (lapsed || failed) readdAll();
          })
          .catch((error: Error) => logger.warn({ err: error }, 'presence beat failed; retrying at the next beat'))
          .finally(() => {
            beating = false;
          });
      },
      Math.max(100, Math.floor(ttlMs / 3)),
    );
    beat.unref();
    const touch = sweepEvery({
      intervalMs: PRESENCE_KEY_TTL_MS / 24,
      spreadMs: PRESENCE_KEY_TTL_MS / 48,
      connections: () => hub.connections(),
      each: async (slice) => {
        const live = open(slice);
        const missing = await addPresence(
          redis,
          prefix,
          live.map((c) => presenceOf(gatewayId, c)),
          { onlyMissing: true },
        );
        const lost = live.filter((c, i) => missing[i] && hub.holdForReplay(c));
        if (lost.length > 0) logger.warn({ connections: lost.length }, 'presence entries had gone missing; re-added, replaying to them');
        await Promise.all(lost.map((c) => hub.replay(c)));
      },
      stopped,
      logger,
    });
    this.#timers = [beat, touch];
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
