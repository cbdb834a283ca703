import { ConfigError, readOptionalString, type Env } from '@esh3ar/config';
import type { ProviderName } from '@esh3ar/contracts';
import { providerRateKey, takeTokens, type Grant, type RateLimit, type RedisClient } from '@esh3ar/queue';

/** Each provider account's rate limit in messages per second; null: none. */
export type ProviderRates = Readonly<Record<ProviderName, number | null>>;

const RATE_VARIABLES: Record<ProviderName, string> = {
  sim: 'SIM_RATE_PER_SECOND',
  twilio: 'TWILIO_RATE_PER_SECOND',
  meta: 'META_RATE_PER_SECOND',
  smtp: 'SMTP_RATE_PER_SECOND',
};

/**
 * Without a setting: provider-sim has no limit; Twilio 100/s, a short code's throughput
 * (a long code sends 1/s, a toll-free number 3/s: set the account's own); Meta's WhatsApp
 * Cloud API 80/s, its default throughput per business phone number; an SMTP relay none,
 * since relays differ too much for a default, and refuse with a 4xx when over theirs.
 */
const DEFAULT_RATES: ProviderRates = { sim: null, twilio: 100, meta: 80, smtp: null };

/** <PROVIDER>_RATE_PER_SECOND: a whole number of messages per second, or `unlimited`. */
export function parseProviderRates(env: Env): ProviderRates {
  const rates = { ...DEFAULT_RATES };
  for (const [provider, variable] of Object.entries(RATE_VARIABLES) as [ProviderName, string][]) {
    const raw = readOptionalString(env, variable);
    if (raw === null) continue;
    if (raw.toLowerCase() === 'unlimited') rates[provider] = null;
    else if (/^\d+$/.test(raw) && Number(raw) >= 1 && Number(raw) <= 1_000_000) rates[provider] = Number(raw);
    else throw new ConfigError(`${variable} must be a whole number of messages per second from 1 to 1000000, or unlimited, got "${raw}"`);
  }
  return rates;
}

/**
 * The bucket of a rate: a tenth of a second's worth at most, so that over any second the
 * provider gets at most 1.1× its rate, and each worker takes its tokens in chunks of up to
 * that many (one Redis call per chunk, not per message).
 */
export const rateLimit = (perSecond: number): RateLimit => ({ perSecond, burst: Math.max(1, Math.ceil(perSecond / 10)) });

/** Takes up to `want` of a provider's tokens: as many as its account allows now (a provider without a limit: all). */
export type TakeTokens = (provider: ProviderName, want: number) => Promise<Grant>;

export function providerTokens(redis: RedisClient, prefix: string, rates: ProviderRates): TakeTokens {
  return async (provider, want) => {
    const perSecond = rates[provider];
    if (perSecond === null) return { granted: want, waitMs: 0 };
    return takeTokens(redis, providerRateKey(prefix, provider), rateLimit(perSecond), want);
  };
}
