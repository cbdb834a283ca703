import type { Esh3arError } from './errors.js';

export interface RetryPolicy {
  /** Attempts per call, the first included. */
  maxAttempts: number;
  /** Backoff without Retry-After: a random wait up to baseDelayMs × 2^(retry − 1)… */
  baseDelayMs: number;
  /** …and never over maxDelayMs. */
  maxDelayMs: number;
  /** A longer Retry-After is not waited out: the error is thrown with its retryAfter. */
  maxRetryAfterSeconds: number;
}

/**
 * Five attempts, waits up to 0.5, 1, 2 and 4 s (7.5 s in all): an api restart or a
 * PostgreSQL failover takes seconds (Esh3ar's docs/api.md). Retry-After up to 10 s is waited
 * out: the api's own are 1 s (UNAVAILABLE), 2 s (OVERLOADED), a second for a burst, and
 * up to 10 s for a repeat of an idempotent request still in progress (its lease). A
 * tenant that spent its whole minute is told up to 60 s; a call held open that long
 * would outlive most callers' own deadlines, so the caller gets the 429 and decides.
 */
export const DEFAULT_RETRY: RetryPolicy = Object.freeze({ maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 8000, maxRetryAfterSeconds: 10 });

/**
 * How long to wait before attempt `attempt + 1` after `error`, or null not to retry.
 * Only what cannot have been refused for its content is retried: 429, 503, and no answer
 * at all. Without Retry-After, "full jitter" (a uniform wait up to the exponential ceiling):
 * many clients failing at once do not come back at once.
 */
export function retryDelayMs(error: Esh3arError, attempt: number, policy: RetryPolicy, random: () => number = Math.random): number | null {
  if (attempt >= policy.maxAttempts) return null;
  const retryable = error.status === 429 || error.status === 503 || error.code === 'NETWORK_ERROR' || error.code === 'TIMEOUT';
  if (!retryable) return null;
  if (error.retryAfter !== undefined) return error.retryAfter > policy.maxRetryAfterSeconds ? null : error.retryAfter * 1000;
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}
