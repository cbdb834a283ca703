import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Esh3arError } from './errors.js';
import { parseRetryAfter } from './retry-after.js';
import { DEFAULT_RETRY, retryDelayMs, type RetryPolicy } from './retry-policy.js';

const now = Date.parse('2026-11-23T10:00:00.000Z');
const policy: RetryPolicy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterSeconds: 10 };
const failure = (status: number, code: string, retryAfter?: number) => new Esh3arError({ status, code, message: code, retryAfter });

describe('parseRetryAfter', () => {
  it.each([
    ['3', 3],
    [' 0 ', 0],
    ['120', 120],
    ['Mon, 23 Nov 2026 10:00:03 GMT', 3],
    ['Mon, 23 Nov 2026 09:59:00 GMT', 0],
    // The obsolete RFC 850 form, which RFC 9110 asks recipients to accept.
    ['Monday, 23-Nov-26 10:00:05 GMT', 5],
  ])('%j is %d s', (header, seconds) => {
    expect(parseRetryAfter(header, now)).toBe(seconds);
  });

  it('rounds a date up: 2.5 s ahead is waited out as 3 s, never as 2', () => {
    expect(parseRetryAfter('Mon, 23 Nov 2026 10:00:03 GMT', now + 500)).toBe(3);
  });

  it.each([null, '', '-1', '1.5', 'soon', '0x10'])('%j is no Retry-After', (header) => {
    expect(parseRetryAfter(header, now)).toBeUndefined();
  });
});

describe('retryDelayMs', () => {
  it('waits what Retry-After says, up to maxRetryAfterSeconds, after a 429 or a 503', () => {
    expect(retryDelayMs(failure(429, 'RATE_LIMITED', 2), 1, policy)).toBe(2000);
    expect(retryDelayMs(failure(503, 'OVERLOADED', 0), 1, policy)).toBe(0);
    expect(retryDelayMs(failure(503, 'UNAVAILABLE', 10), 1, policy)).toBe(10_000);
    expect(retryDelayMs(failure(429, 'RATE_LIMITED', 11), 1, policy)).toBeNull();
  });

  it('retries a call that got no answer, and nothing the api refused for what it was', () => {
    expect(retryDelayMs(failure(0, 'NETWORK_ERROR'), 1, policy, () => 0.5)).toBe(50);
    expect(retryDelayMs(failure(0, 'TIMEOUT'), 1, policy, () => 0.5)).toBe(50);
    for (const [status, code] of [
      [400, 'VALIDATION_FAILED'],
      [401, 'UNAUTHENTICATED'],
      [404, 'NOT_FOUND'],
      [408, 'REQUEST_TIMEOUT'],
      [413, 'PAYLOAD_TOO_LARGE'],
      [422, 'IDEMPOTENCY_KEY_REUSED'],
      [500, 'INTERNAL'],
      [502, 'UNEXPECTED_RESPONSE'],
    ] as const) {
      expect(
        retryDelayMs(failure(status, code), 1, policy, () => 0.5),
        code,
      ).toBeNull();
    }
  });

  it('stops at maxAttempts, Retry-After or not', () => {
    expect(retryDelayMs(failure(503, 'UNAVAILABLE', 1), 4, policy)).toBe(1000);
    expect(retryDelayMs(failure(503, 'UNAVAILABLE', 1), 5, policy)).toBeNull();
    expect(retryDelayMs(failure(0, 'NETWORK_ERROR'), 5, policy)).toBeNull();
    expect(retryDelayMs(failure(0, 'NETWORK_ERROR'), 1, { ...policy, maxAttempts: 1 })).toBeNull();
  });

  it('property: without Retry-After, a whole number of ms in [0, min(maxDelayMs, baseDelayMs × 2^(attempt − 1)))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, baseDelayMs, maxDelayMs, random) => {
          const delay = retryDelayMs(
            failure(503, 'UNAVAILABLE'),
            attempt,
            { ...policy, maxAttempts: 41, baseDelayMs, maxDelayMs },
            () => random,
          );
          const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThan(ceiling);
        },
      ),
    );
  });

  it('by default: five attempts, ceilings of 0.5, 1, 2 and 4 s, Retry-After waited up to 10 s', () => {
    const ceilings = [1, 2, 3, 4].map((attempt) => retryDelayMs(failure(0, 'NETWORK_ERROR'), attempt, DEFAULT_RETRY, () => 1));
    expect(ceilings).toEqual([500, 1000, 2000, 4000]);
    expect(retryDelayMs(failure(0, 'NETWORK_ERROR'), 5, DEFAULT_RETRY)).toBeNull();
    expect(retryDelayMs(failure(429, 'RATE_LIMITED', 10), 1, DEFAULT_RETRY)).toBe(10_000);
    expect(retryDelayMs(failure(429, 'RATE_LIMITED', 11), 1, DEFAULT_RETRY)).toBeNull();
  });
});
