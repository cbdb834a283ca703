import { PROVIDER_CHANNELS, type ProviderChannel, type ProviderName } from '@esh3ar/contracts';
import type { ProviderMetrics } from '@esh3ar/observability';
import { providerRoute, publishClosed, publishOpen, sharedOpenUntil, type BreakerState } from '@esh3ar/queue/breaker-state';
import type { RuntimeConfig } from '@esh3ar/runtime';
import type { Logger } from 'pino';
import { providerPolicy, stateName, type ProviderPolicy } from './breaker-policy.ts';
import type { RedisClient } from '@esh3ar/queue';

export interface BreakersOptions {
  redis: RedisClient;
  prefix: string;
  logger: Logger;
  metrics: ProviderMetrics;
  runtime: () => RuntimeConfig;
  timeoutMs: number;
  /** Each channel's providers, in failover order. */
  providers: Readonly<Record<ProviderChannel, readonly ProviderName[]>>;
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/**
 * A cockatiel policy per channel and provider (Twilio's SMS breaker opening leaves its
 * WhatsApp one alone: the two are different routes at Twilio), rebuilt when the runtime
 * configuration's breaker settings change, whose breaker state is shared through Redis:
 * published on each change, and the other workers' open breakers read every 250 ms.
 */
export class ProviderBreakers {
  readonly #policies = new Map<string, ProviderPolicy>();
  #policyKey = '';
  #sharedOpen = new Map<string, number>();
  /**
   * Routes seen open in another worker whose calls here have not succeeded since, with
   * when this worker may probe them (0 once due). This worker's own breaker made no call
   * meanwhile and is closed: without this, the moment the shared state lapsed it let a whole
   * chunk of calls (up to 64 per job) at a provider still down, every half-open delay, in
   * every worker. Instead one call probes, as cockatiel's half-open would; a failed one
   * waits another half-open delay, a success ends it.
   */
  readonly #seenOpen = new Map<string, number>();
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
          for (const [route, until] of open) this.#seenOpen.set(route, Math.max(this.#seenOpen.get(route) ?? 0, until));
        },
        (error: Error) => logger.warn({ err: error }, 'shared breaker state not read'),
      );
    }, 250);
    this.#poller.unref();
  }

  /** The current policy of this channel's provider; refresh() may replace it. */
  policy(channel: ProviderChannel, provider: ProviderName): ProviderPolicy {
    const policy = this.#policies.get(providerRoute(channel, provider));
    if (policy === undefined) throw new Error(`${provider} is not a provider of ${channel}`);
    return policy;
  }

  /** Until when other workers saw this provider's breaker open (0: closed). */
  sharedOpenUntil(channel: ProviderChannel, provider: ProviderName): number {
    return this.#sharedOpen.get(providerRoute(channel, provider)) ?? 0;
  }

  /** For a route seen open elsewhere and not called with success here since: when its probe may go (failover.ts); undefined: none pending. */
  probeAfter(channel: ProviderChannel, provider: ProviderName): number | undefined {
    return this.#seenOpen.get(providerRoute(channel, provider));
  }

  /** Rebuilds the policies if the runtime configuration's breaker settings changed. */
  refresh(): void {
    const { breaker } = this.#options.runtime();
    const key = `${breaker.failureThreshold}:${breaker.halfOpenAfterMs}`;
    if (key === this.#policyKey) return;
    this.#policyKey = key;
    const { redis, prefix, logger, metrics, timeoutMs, providers } = this.#options;
    for (const channel of PROVIDER_CHANNELS) {
      for (const provider of providers[channel]) {
        const p = providerPolicy(channel, {
          failureThreshold: breaker.failureThreshold,
          halfOpenAfterMs: breaker.halfOpenAfterMs,
          timeoutMs,
        });
        p.breaker.onStateChange((state) => {
          const name = stateName(state);
          metrics.breakerState.set({ channel, provider }, STATE_VALUE[name]);
          logger.warn({ channel, provider, state: name }, 'provider circuit breaker changed state');
          const published =
            name === 'open'
              ? publishOpen(redis, prefix, channel, provider, breaker.halfOpenAfterMs)
              : name === 'closed'
                ? publishClosed(redis, prefix, channel, provider)
                : null;
          published?.catch((error: Error) => logger.warn({ err: error, channel, provider }, 'breaker state not shared'));
        });
        const route = providerRoute(channel, provider);
        p.breaker.onSuccess(() => this.#seenOpen.delete(route));
        // A failure the breaker counts puts the next probe off; one it does not (the provider
        // refused that message) says the provider answers, as a success does.
        p.breaker.onFailure(({ handled }) => {
          if (!this.#seenOpen.has(route)) return;
          if (handled) this.#seenOpen.set(route, Date.now() + breaker.halfOpenAfterMs);
          else this.#seenOpen.delete(route);
        });
        metrics.breakerState.set({ channel, provider }, 0);
        this.#policies.set(providerRoute(channel, provider), p);
      }
    }
  }

  /** One provider's breaker as the ops server reports it: open here, or open in another worker. */
  #state(channel: ProviderChannel, provider: ProviderName, now: number): BreakerState {
    const local = stateName(this.policy(channel, provider).breaker.state);
    return local === 'closed' && this.sharedOpenUntil(channel, provider) > now ? 'open' : local;
  }

  /**
   * As the api's readiness reports them (@esh3ar/queue/breaker-state breakerStates): per
   * channel, `open` while any of its providers' breakers is (then `half_open` while one
   * probes), and `<channel>:<provider>` for each of its providers.
   */
  states(): Record<string, BreakerState> {
    const now = Date.now();
    const states: Record<string, BreakerState> = {};
    for (const channel of PROVIDER_CHANNELS) {
      const own = this.#options.providers[channel].map((provider) => [provider, this.#state(channel, provider, now)] as const);
      const values = own.map(([, state]) => state);
      states[channel] = values.includes('open') ? 'open' : values.includes('half_open') ? 'half_open' : 'closed';
      for (const [provider, state] of own) states[providerRoute(channel, provider)] = state;
    }
    return states;
  }

  close(): void {
    clearInterval(this.#poller);
  }
}
