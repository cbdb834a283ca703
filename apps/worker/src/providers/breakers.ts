import type { RuntimeConfig } from '@esh3ar/config';
import { PROVIDER_CHANNELS, type ProviderChannel } from '@esh3ar/contracts';
import type { ProviderMetrics } from '@esh3ar/observability';
import { publishClosed, publishOpen, sharedOpenUntil, type BreakerState } from '@esh3ar/queue';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { providerPolicy, stateName, type ProviderPolicy } from './breaker-policy.ts';

export interface BreakersOptions {
  redis: Redis;
  prefix: string;
  logger: Logger;
  metrics: ProviderMetrics;
  runtime: () => RuntimeConfig;
  timeoutMs: number;
  /** Calls in flight per channel at most (the send workers' concurrency). */
  concurrency: number;
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };
/** Calls that may wait in a channel's bulkhead per call in flight. */
export const BULKHEAD_QUEUE_PER_SLOT = 4;

/**
 * A cockatiel policy per provider channel, rebuilt when the runtime configuration's
 * breaker settings change, whose breaker state is shared through Redis: published on
 * each change, and the other workers' open breakers read every 250 ms.
 */
export class ProviderBreakers {
  readonly #policies = new Map<ProviderChannel, ProviderPolicy>();
  #policyKey = '';
  #sharedOpen = new Map<ProviderChannel, number>();
  readonly #poller: NodeJS.Timeout;
  readonly #options: BreakersOptions;

  constructor(options: BreakersOptions) {
    this.#options = options;
    this.refresh();
    const { redis, prefix, logger } = options;
    this.#poller = setInterval(() => {
      sharedOpenUntil(redis, prefix).then(
        (open) => {
          this.#sharedOpen = open;
        },
        (error: Error) => logger.warn({ err: error }, 'shared breaker state not read'),
      );
    }, 250);
    this.#poller.unref();
  }

  /** The current policies; refresh() replaces the entries of this same map. */
  get policies(): ReadonlyMap<ProviderChannel, ProviderPolicy> {
    return this.#policies;
  }

  /** Until when other workers saw this channel's breaker open (0: closed). */
  sharedOpenUntil(channel: ProviderChannel): number {
    return this.#sharedOpen.get(channel) ?? 0;
  }

  /** Rebuilds the policies if the runtime configuration's breaker settings changed. */
  refresh(): void {
    const { breaker } = this.#options.runtime();
    const key = `${breaker.failureThreshold}:${breaker.halfOpenAfterMs}`;
    if (key === this.#policyKey) return;
    this.#policyKey = key;
    const { redis, prefix, logger, metrics, timeoutMs, concurrency } = this.#options;
    for (const channel of PROVIDER_CHANNELS) {
      const p = providerPolicy(channel, {
        failureThreshold: breaker.failureThreshold,
        halfOpenAfterMs: breaker.halfOpenAfterMs,
        timeoutMs,
        maxConcurrent: concurrency,
        maxQueued: concurrency * BULKHEAD_QUEUE_PER_SLOT,
      });
      p.breaker.onStateChange((state) => {
        const name = stateName(state);
        metrics.breakerState.set({ channel }, STATE_VALUE[name]);
        logger.warn({ channel, state: name }, 'provider circuit breaker changed state');
        const published =
          name === 'open'
            ? publishOpen(redis, prefix, channel, breaker.halfOpenAfterMs)
            : name === 'closed'
              ? publishClosed(redis, prefix, channel)
              : null;
        published?.catch((error: Error) => logger.warn({ err: error, channel }, 'breaker state not shared'));
      });
      metrics.breakerState.set({ channel }, 0);
      this.#policies.set(channel, p);
    }
  }

  /** Per channel, as the ops server reports it: open here, or open in another worker. */
  states(): Record<ProviderChannel, BreakerState> {
    const now = Date.now();
    return Object.fromEntries(
      PROVIDER_CHANNELS.map((c) => {
        const local = stateName(this.#policies.get(c)!.breaker.state);
        return [c, local === 'closed' && this.sharedOpenUntil(c) > now ? 'open' : local];
      }),
    ) as Record<ProviderChannel, BreakerState>;
  }

  close(): void {
    clearInterval(this.#poller);
  }
}
