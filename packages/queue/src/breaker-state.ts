import { CHANNEL_PROVIDERS, PROVIDER_CHANNELS, type ProviderChannel, type ProviderName } from '@esh3ar/contracts';
import { pipelined } from './pipelines.ts';
import type { RedisClient } from './redis.ts';

/**
 * Breaker state shared by all workers (and read by the api's /health/ready), one per
 * channel and provider: the worker whose breaker opens writes
 * `<prefix>:breaker:<channel>:<provider>` = the time it will probe again, expiring then; a
 * close deletes it. Every worker checks it before calling, so a provider that is down is
 * not hammered by N workers, and a channel with a failover list goes to its next provider
 * meanwhile.
 */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** One provider of one channel, as the states name it: `sms:twilio`. */
export const providerRoute = (channel: ProviderChannel, provider: ProviderName) => `${channel}:${provider}`;

export const breakerKey = (prefix: string, channel: ProviderChannel, provider: ProviderName) =>
  `${prefix}:breaker:${providerRoute(channel, provider)}`;

/** Every channel and provider the catalogue allows: 7 keys, read in one pipeline (per master on a Cluster: an MGET would span slots). */
const ROUTES: readonly (readonly [ProviderChannel, ProviderName])[] = PROVIDER_CHANNELS.flatMap((channel) =>
  CHANNEL_PROVIDERS[channel].map((provider) => [channel, provider] as const),
);

export async function publishOpen(
  redis: RedisClient,
  prefix: string,
  channel: ProviderChannel,
  provider: ProviderName,
  forMs: number,
): Promise<void> {
  await redis.set(breakerKey(prefix, channel, provider), String(Date.now() + forMs), 'PX', Math.max(1, forMs));
}

export async function publishClosed(redis: RedisClient, prefix: string, channel: ProviderChannel, provider: ProviderName): Promise<void> {
  await redis.del(breakerKey(prefix, channel, provider));
}

/** Until when each provider's shared breaker is open, by providerRoute (absent: closed). */
export async function sharedOpenUntil(redis: RedisClient, prefix: string): Promise<Map<string, number>> {
  const values = (await pipelined(
    redis,
    ROUTES.map(([channel, provider]) => {
      const key = breakerKey(prefix, channel, provider);
      return { key, add: (p) => p.get(key) };
    }),
  )) as (string | null)[];
  const open = new Map<string, number>();
  ROUTES.forEach(([channel, provider], i) => {
    const until = Number(values[i]);
    if (values[i] !== null && until > Date.now()) open.set(providerRoute(channel, provider), until);
  });
  return open;
}

/**
 * Per channel: `open` while the breaker of any of its providers is (with a failover list
 * the channel may still send, through the next provider); and `<channel>:<provider>`:
 * `open` for each provider whose breaker is open.
 */
export async function breakerStates(redis: RedisClient, prefix: string): Promise<Record<string, BreakerState>> {
  const open = await sharedOpenUntil(redis, prefix);
  const states: Record<string, BreakerState> = {};
  for (const channel of PROVIDER_CHANNELS) {
    const routes = CHANNEL_PROVIDERS[channel].map((provider) => providerRoute(channel, provider)).filter((r) => open.has(r));
    states[channel] = routes.length > 0 ? 'open' : 'closed';
    for (const route of routes) states[route] = 'open';
  }
  return states;
}
