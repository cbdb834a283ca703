import { readFileSync } from 'node:fs';
import type { RedisClient } from './redis.ts';

const TAKE_TOKENS = readFileSync(new URL('./lua/take-tokens.lua', import.meta.url), 'utf8');

/**
 * `<prefix>:provider-rate:<provider>`: one provider account's token bucket
 * (lua/take-tokens.lua), shared by every worker: the account's rate limit holds however
 * many workers send through it. Written and read here only.
 */
export const providerRateKey = (prefix: string, provider: string) => `${prefix}:provider-rate:${provider}`;

export interface RateLimit {
  /** Tokens added per second. */
  perSecond: number;
  /** What the bucket holds at most: over any T seconds, at most burst + perSecond × T are granted. */
  burst: number;
}

export interface Grant {
  granted: number;
  /** Until one more token is there (0: there is one already). */
  waitMs: number;
}

/**
 * Takes up to `want` tokens from a bucket in one round trip: as many as it holds now,
 * possibly none. `nowMs` replaces Redis's clock (for tests that move time themselves).
 */
export async function takeTokens(redis: RedisClient, key: string, limit: RateLimit, want: number, nowMs?: number): Promise<Grant> {
  const [granted, waitMs] = (await redis.eval(
    TAKE_TOKENS,
    1,
    key,
    String(limit.perSecond),
    String(limit.burst),
    String(want),
    nowMs === undefined ? '' : String(nowMs),
  )) as [number, number];
  return { granted, waitMs };
}
