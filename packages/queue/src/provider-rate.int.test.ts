import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerRateKey, takeTokens, type RateLimit } from './provider-rate.ts';

// Real Redis, two clients (two workers) on one bucket; the clock is the test's (ARGV[4]),
// so the property does not depend on how fast this machine runs.
const prefix = `esh3ar-t-rate-${randomUUID().slice(0, 8)}`;
let workers: [Redis, Redis];

beforeAll(() => {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  workers = [new Redis(url), new Redis(url)];
});
afterAll(async () => {
  const left = await workers[0].keys(`${prefix}:*`);
  if (left.length) await workers[0].del(...left);
  for (const w of workers) w.disconnect();
});

interface Step {
  worker: 0 | 1;
  /** ms since the previous step (0: at the same time). */
  afterMs: number;
  want: number;
}

const step = fc.record({
  worker: fc.constantFrom<0 | 1>(0, 1),
  afterMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 3000 })),
  want: fc.integer({ min: 1, max: 300 }),
});
const limit = fc.record({ perSecond: fc.integer({ min: 1, max: 5000 }) }).map(({ perSecond }) => ({
  perSecond,
  burst: Math.max(1, Math.ceil(perSecond / 10)),
}));

describe('the providers’ shared token bucket (take-tokens.lua)', () => {
  it('never grants more than burst + rate × T over any interval of T ms, whichever worker asks', async () => {
    await fc.assert(
      fc.asyncProperty(limit, fc.array(step, { minLength: 1, maxLength: 60 }), async (rate: RateLimit, steps: Step[]) => {
        const key = providerRateKey(prefix, randomUUID());
        let now = 1_700_000_000_000;
        const grants: { at: number; granted: number }[] = [];
        for (const s of steps) {
          now += s.afterMs;
          const { granted, waitMs } = await takeTokens(workers[s.worker], key, rate, s.want, now);
          expect(granted).toBeGreaterThanOrEqual(0);
          expect(granted).toBeLessThanOrEqual(s.want);
          // Short of tokens: how long until the next one.
          if (granted < s.want) expect(waitMs).toBeGreaterThan(0);
          grants.push({ at: now, granted });
        }
        for (let i = 0; i < grants.length; i++) {
          let sum = 0;
          for (let j = i; j < grants.length; j++) {
            sum += grants[j]!.granted;
            const span = grants[j]!.at - grants[i]!.at;
            expect(sum, `granted from ${i} to ${j} over ${span} ms`).toBeLessThanOrEqual(
              rate.burst + (rate.perSecond * span) / 1000 + 1e-6,
            );
          }
        }
      }),
      // 200 runs of up to 60 steps: ~12,000 script calls, a second or two here.
      { numRuns: 200 },
    );
  });

  it('grants what was promised: after waitMs there is a token, and a full second of waiting refills the burst', async () => {
    const rate = { perSecond: 20, burst: 2 };
    const key = providerRateKey(prefix, randomUUID());
    const t0 = 1_700_000_000_000;
    expect(await takeTokens(workers[0], key, rate, 5, t0)).toEqual({ granted: 2, waitMs: 50 });
    expect(await takeTokens(workers[1], key, rate, 5, t0 + 25)).toEqual({ granted: 0, waitMs: 25 });
    expect(await takeTokens(workers[1], key, rate, 5, t0 + 50)).toMatchObject({ granted: 1 });
    expect(await takeTokens(workers[0], key, rate, 5, t0 + 1050)).toMatchObject({ granted: 2 });
    // A clock that goes back (another worker's, a little behind) adds nothing.
    expect(await takeTokens(workers[1], key, rate, 5, t0 + 900)).toMatchObject({ granted: 0 });
  });

  it('uses Redis’s own clock when none is given', async () => {
    const key = providerRateKey(prefix, randomUUID());
    const grant = await takeTokens(workers[0], key, { perSecond: 1000, burst: 100 }, 300);
    expect(grant).toEqual({ granted: 100, waitMs: 1 });
    const at = Number(await workers[0].hget(key, 'at'));
    expect(Math.abs(at - Date.now())).toBeLessThan(60_000);
  });
});
