import { PROVIDER_CHANNELS, type ProviderChannel } from '@esh3ar/contracts';
import type { Redis } from 'ioredis';

/**
 * Breaker state shared by all workers (and read by the api's /health/ready): the
 * worker whose breaker opens writes `<prefix>:breaker:<channel>` = "open" with the
 * time it will probe again, expiring then; a close deletes it. Every worker checks
 * it before calling, so a provider that is down is not hammered by N workers.
 */
export type BreakerState = 'closed' | 'open' | 'half_open';

export const breakerKey = (prefix: string, channel: ProviderChannel) => `${prefix}:breaker:${channel}`;

export async function publishOpen(redis: Redis, prefix: string, channel: ProviderChannel, forMs: number): Promise<void> {
  await redis.set(breakerKey(prefix, channel), String(Date.now() + forMs), 'PX', Math.max(1, forMs));
}

export async function publishClosed(redis: Redis, prefix: string, channel: ProviderChannel): Promise<void> {
  await redis.del(breakerKey(prefix, channel));
}

/** Until when each channel's shared breaker is open (absent: closed). */
export async function sharedOpenUntil(redis: Redis, prefix: string): Promise<Map<ProviderChannel, number>> {
  const values = await redis.mget(...PROVIDER_CHANNELS.map((c) => breakerKey(prefix, c)));
  const open = new Map<ProviderChannel, number>();
  PROVIDER_CHANNELS.forEach((channel, i) => {
    const until = Number(values[i]);
    if (values[i] !== null && until > Date.now()) open.set(channel, until);
  });
  return open;
}

export async function breakerStates(redis: Redis, prefix: string): Promise<Record<ProviderChannel, BreakerState>> {
  const open = await sharedOpenUntil(redis, prefix);
  return Object.fromEntries(PROVIDER_CHANNELS.map((c) => [c, open.has(c) ? 'open' : 'closed'])) as Record<ProviderChannel, BreakerState>;
}
