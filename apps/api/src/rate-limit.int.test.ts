import { createDatabase, createTenant, type TenantTier, type ThrowawayDatabase } from '@esh3ar/db';
import { send, startApp, startStack, uniquePrefix, deletePrefix, type AppProcess, type Stack } from '@esh3ar/stack';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';
import {
  budgeted,
  defineSlidingWindow,
  slidingWindow,
  slidingWindowBatch,
  tickLimiter,
  type WindowDecision,
  type WindowLimits,
} from './rate-limit.ts';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const message = (i = 0) => ({ recipient: '+966501234567', content: `message ${i}` });

/**
 * The limiter as a specification: a log of admission times, a clock that never runs
 * backwards, and "admit when both windows have room for the whole cost".
 */
function specification(windowMs: number, limit: number, burst: number) {
  let log: number[] = [];
  let clock = -Infinity;
  const inWindow = (at: number) => log.filter((s) => s > at - windowMs).length;
  const inSecond = (at: number) => log.filter((s) => s > at - 1000).length;
  return {
    step(t: number, cost: number) {
      const now = Math.max(t, clock);
      clock = now;
      log = log.filter((s) => s > now - windowMs);
      const used = inWindow(now);
      const admitted = used + cost <= limit && inSecond(now) + cost <= burst;
      if (admitted) log.push(...Array<number>(cost).fill(now));
      /** Would this request fit at time `at`, if nothing else were admitted meanwhile? */
      const fitsAt = (at: number) => inWindow(at) + cost <= limit && inSecond(at) + cost <= burst;
      return { now, admitted, used: admitted ? used + cost : used, fitsAt };
    },
  };
}

describe('sliding-window Lua script (real Redis, injected clock)', () => {
  let redis: Redis;
  const prefix = uniquePrefix('sliding-window');
  let run = 0;
  beforeAll(() => {
    redis = new Redis(redisUrl);
    defineSlidingWindow(redis);
  });
  afterAll(async () => {
    redis?.disconnect();
    await deletePrefix(redisUrl, prefix);
  });

  it('property: one call for a tick’s requests decides each exactly as the same requests one by one', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 30 }),
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 20 }),
        async (limit, burst, costs) => {
          const t = 1_800_000_000_000;
          const limits = { windowMs: 60_000, limit, burst };
          const batched = await slidingWindowBatch(redis, `${prefix}:batch:${run++}`, t, limits, costs);
          const singleKey = `${prefix}:single:${run++}`;
          const single = [];
          for (const cost of costs) single.push(await slidingWindow(redis, singleKey, t, { ...limits, cost }));
          expect(batched).toEqual(single);
        },
      ),
      { numRuns: 60 },
    );
  });

  const scenario = fc
    .record({
      windowMs: fc.integer({ min: 1, max: 120 }).map((s) => s * 1000),
      limit: fc.integer({ min: 1, max: 25 }),
      burst: fc.integer({ min: 1, max: 25 }),
    })
    .chain((limits) =>
      fc.record({
        ...Object.fromEntries(Object.entries(limits).map(([k, v]) => [k, fc.constant(v)])),
        start: fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
        requests: fc.array(
          fc.record({
            // Steps that land exactly on, just before and just after window and second edges,
            // arbitrary ones, and clocks that run backwards (another api process's clock).
            step: fc.oneof(
              fc.constantFrom(0, 1, 999, 1000, 1001, limits.windowMs - 1, limits.windowMs, limits.windowMs + 1),
              fc.integer({ min: 0, max: 2 * limits.windowMs }),
              fc.integer({ min: -3000, max: 3000 }),
            ),
            cost: fc.oneof({ weight: 3, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 6 }) }),
          }),
          { minLength: 1, maxLength: 60 },
        ),
      }),
    ) as fc.Arbitrary<{ windowMs: number; limit: number; burst: number; start: number; requests: { step: number; cost: number }[] }>;

  it('property: decides exactly as the specification, never admits more than the limit in any window or burst in any second, and Retry-After is the first moment the request fits', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ windowMs, limit, burst, start, requests }) => {
        const key = `${prefix}:rl:${run++}`;
        const spec = specification(windowMs, limit, burst);
        const admissions: { at: number; cost: number }[] = [];
        let t = start;
        for (const { step, cost } of requests) {
          t += step;
          const decision = await slidingWindow(redis, key, t, { windowMs, limit, burst, cost });
          const expected = spec.step(t, cost);
          expect(decision.admitted).toBe(expected.admitted);
          expect(decision.used).toBe(expected.used);
          if (decision.admitted) {
            admissions.push({ at: expected.now, cost });
            expect(decision.waitMs).toBe(0);
          } else if (cost > limit || cost > burst) {
            expect(decision.waitMs).toBe(windowMs); // never fits: a full window is the honest hint
          } else {
            expect(expected.fitsAt(expected.now + decision.waitMs)).toBe(true);
            expect(expected.fitsAt(expected.now + decision.waitMs - 1)).toBe(false);
          }
        }
        for (const { at } of admissions) {
          const sum = (from: number) => admissions.filter((a) => a.at > from && a.at <= at).reduce((n, a) => n + a.cost, 0);
          expect(sum(at - windowMs)).toBeLessThanOrEqual(limit);
          expect(sum(at - 1000)).toBeLessThanOrEqual(burst);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('decides as the specification with more than a page of buckets: 1,200 milliseconds with admissions, leaving at once', async () => {
    const [windowMs, limit, burst] = [60_000, 1_300, 1_100];
    const key = `${prefix}:rl:many-buckets`;
    const spec = specification(windowMs, limit, burst);
    const t0 = 1_800_000_000_000;
    const check = async (t: number, cost: number) => {
      const decision = await slidingWindow(redis, key, t, { windowMs, limit, burst, cost });
      const expected = spec.step(t, cost);
      expect({ admitted: decision.admitted, used: decision.used }).toEqual({ admitted: expected.admitted, used: expected.used });
      if (!decision.admitted) {
        expect(expected.fitsAt(expected.now + decision.waitMs)).toBe(true);
        expect(expected.fitsAt(expected.now + decision.waitMs - 1)).toBe(false);
      }
      return decision;
    };
    for (let ms = 0; ms < 1200; ms++) expect((await check(t0 + ms, 1)).admitted).toBe(true); // 1,200 buckets
    // Refused: the retry time lies more than a page (500 buckets) deep, in the window and in the second.
    expect((await check(t0 + 1200, 700)).admitted).toBe(false);
    expect((await check(t0 + 1200, 100)).admitted).toBe(true);
    expect((await check(t0 + 1500, 5)).admitted).toBe(false);
    // Every bucket leaves the window in one call.
    expect(await check(t0 + 4000 + windowMs, 1)).toEqual({ admitted: true, used: 1, waitMs: 0 });
  });

  it('a request refused at a window edge is admitted exactly when the oldest admission leaves', async () => {
    const key = `${prefix}:rl:edge`;
    const limits = { windowMs: 60_000, limit: 2, burst: 10, cost: 1 };
    const t0 = 1_800_000_000_000;
    expect((await slidingWindow(redis, key, t0, limits)).admitted).toBe(true);
    expect((await slidingWindow(redis, key, t0 + 30_000, limits)).admitted).toBe(true);
    const refused = await slidingWindow(redis, key, t0 + 59_999, limits);
    expect(refused).toEqual({ admitted: false, used: 2, waitMs: 1 });
    expect(await slidingWindow(redis, key, t0 + 60_000, limits)).toEqual({ admitted: true, used: 2, waitMs: 0 });
    // A fixed window would have allowed 2 more here; the sliding one still counts t0 + 30 s.
    expect((await slidingWindow(redis, key, t0 + 60_001, limits)).admitted).toBe(false);
  });

  it('gathers the requests that arrive while a call is in flight into the next call, in order', async () => {
    const connection = new Redis(redisUrl);
    const decideNow = tickLimiter(connection, () => 1_800_000_000_000);
    const decide = (key: string, limits: WindowLimits, cost: number) =>
      new Promise<WindowDecision>((resolve, reject) =>
        decideNow(budgeted(key, limits), cost, (error, decision) => (error === null ? resolve(decision!) : reject(error))),
      );
    // The first script call answers only once the gate opens; the others at once.
    const gate = Promise.withResolvers<void>();
    const real = connection.esh3arSlidingWindow.bind(connection);
    const calls: number[][] = [];
    connection.esh3arSlidingWindow = async (...args: Parameters<typeof real>) => {
      const first = calls.push(args.slice(7).map(Number)) === 1;
      const answer = await real(...args);
      if (first) await gate.promise;
      return answer;
    };
    const limits = { windowMs: 60_000, limit: 3, burst: 10 };
    const key = `${prefix}:rl:gathered`;
    const decisions = [decide(key, limits, 1)];
    for (const cost of [1, 1, 1]) {
      await new Promise((resolve) => setImmediate(resolve));
      decisions.push(decide(key, limits, cost));
    }
    // Another tenant's key does not wait for this one's call.
    const other = await decide(`${prefix}:rl:gathered-other`, limits, 2);
    expect(other.admitted).toBe(true);
    expect(calls).toEqual([[1], [2]]);
    gate.resolve();
    expect((await Promise.all(decisions)).map((d) => d.admitted)).toEqual([true, true, true, false]);
    expect(calls).toEqual([[1], [2], [1, 1, 1]]);
    connection.disconnect();
  });

  it('answers every request of a group when the callback of one of them throws', async () => {
    const connection = new Redis(redisUrl);
    const decideNow = tickLimiter(connection, () => 1_800_000_000_000);
    const group = budgeted(`${prefix}:rl:throwing`, { windowMs: 60_000, limit: 10, burst: 10 });
    const others = [Promise.withResolvers<boolean>(), Promise.withResolvers<boolean>()];
    decideNow(group, 1, () => {
      throw new Error('a hook that throws');
    });
    for (const other of others)
      decideNow(group, 1, (error, decision) => (error === null ? other.resolve(decision!.admitted) : other.reject(error)));
    expect(await Promise.all(others.map((o) => o.promise))).toEqual([true, true]);
    connection.disconnect();
  });
});

describe('rate limits over HTTP', () => {
  const prefix = uniquePrefix('rate-limit');
  let db: ThrowawayDatabase;
  let api: InProcessApp;
  beforeAll(async () => {
    db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'rate-limit');
    api = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix });
  });
  afterAll(async () => {
    await api?.close();
    await db?.drop();
    await deletePrefix(redisUrl, prefix);
  });

  const request = (...args: Parameters<InProcessApp['send']>) => api.send(...args);
  async function tenant(tier: TenantTier = 'enterprise', limits: { rpm?: number; burst?: number } = {}) {
    const { tenant: t, apiKey } = await createTenant(api.pool, {
      name: 'rate-limit',
      tier,
      rpm: limits.rpm ?? null,
      burst: limits.burst ?? null,
    });
    return { tenantId: t.id, apiKey };
  }

  it('429 RATE_LIMITED carries Retry-After: the seconds until enough admissions leave the window', async () => {
    const { apiKey } = await tenant('basic', { rpm: 3, burst: 3 });
    const first = Date.now();
    for (let i = 0; i < 3; i++) expect((await request(apiKey, 'POST', '/v1/messages', message(i))).status).toBe(202);
    const refused = await request(apiKey, 'POST', '/v1/messages', message(3));
    const elapsedSeconds = (Date.now() - first) / 1000;
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('RATE_LIMITED');
    const retryAfter = Number(refused.headers.get('retry-after'));
    // The first admission leaves the 60 s window 60 s after it was made.
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(retryAfter).toBeGreaterThanOrEqual(Math.floor(60 - elapsedSeconds));
  });

  it('the burst cap answers with the time until the second frees up, and a batch counts each message', async () => {
    const burst = await tenant('basic', { rpm: 100, burst: 2 });
    for (let i = 0; i < 2; i++) expect((await request(burst.apiKey, 'POST', '/v1/messages', message(i))).status).toBe(202);
    const refused = await request(burst.apiKey, 'POST', '/v1/messages', message(2));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');

    const batches = await tenant('basic', { rpm: 10, burst: 10 });
    const batch = (n: number) =>
      request(batches.apiKey, 'POST', '/v1/messages/batch', { messages: Array.from({ length: n }, (_, i) => message(i)) });
    expect((await batch(8)).body.accepted).toBe(8);
    const over = await batch(3);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(58);
    expect((await batch(2)).body.accepted).toBe(2);
    expect((await batch(1)).status).toBe(429);
  });

  it('a batch bigger than the tenant’s burst is told it is refused whenever it is sent, and how many a request may hold', async () => {
    const small = await tenant('basic', { rpm: 100, burst: 20 });
    const batch = (n: number) =>
      request(small.apiKey, 'POST', '/v1/messages/batch', { messages: Array.from({ length: n }, (_, i) => message(i)) });
    const tooBig = await batch(21);
    expect(tooBig.status).toBe(429);
    expect(tooBig.body.error.message).toBe(
      "a batch of 21 messages is more than this tenant's rate limit admits at once (20): it is refused whenever it is sent; send at most 20 messages in a request",
    );
    expect(tooBig.body.error.details).toEqual([{ path: '/messages', message: 'must hold at most 20 messages for this tenant' }]);
    // Nothing of it was counted: a batch that fits goes at once.
    expect((await batch(20)).body.accepted).toBe(20);
  });

  it('each tier has its limits, and a tenant’s own --rpm/--burst win over its tier’s', async () => {
    for (const [tier, rpm] of [
      ['basic', 100],
      ['premium', 1000],
      ['enterprise', 10_000],
    ] as const) {
      const { apiKey } = await tenant(tier);
      const r = await request(apiKey, 'POST', '/v1/messages', message());
      expect(r.status).toBe(202);
      expect(Number(r.headers.get('x-ratelimit-limit'))).toBe(rpm);
      expect(Number(r.headers.get('x-ratelimit-remaining'))).toBe(rpm - 1);
    }
    // basic: 20 a second.
    const basic = await tenant('basic');
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 25 }, (_, i) => request(basic.apiKey, 'POST', '/v1/messages', message(i))));
    const admitted = answers.filter((a) => a.status === 202).length;
    // Within one second exactly 20; a machine so slow that the 25 took longer may admit more.
    if (performance.now() - started < 1000) expect(admitted).toBe(20);
    else expect(admitted).toBeGreaterThanOrEqual(20);

    const own = await tenant('enterprise', { rpm: 7, burst: 7 });
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) statuses.push((await request(own.apiKey, 'POST', '/v1/messages', message(i))).status);
    expect(statuses).toEqual([...Array<number>(7).fill(202), 429, 429]);
  });
});

describe('rate limits across api processes', () => {
  let stack: Stack;
  let second: AppProcess;
  beforeAll(async () => {
    stack = await startStack('rate-limit');
    second = await startApp('api', stack.env);
  });
  afterAll(async () => {
    await second?.stop('SIGKILL');
    await stack?.close();
  });

  it('two api processes share one budget per tenant', async () => {
    const { apiKey } = await stack.tenant('basic', { rpm: 10, burst: 10 });
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const api = i % 2 === 0 ? stack.api!.url : second.url;
      statuses.push((await send(api, apiKey, 'POST', '/v1/messages', message(i))).status);
    }
    expect(statuses.filter((s) => s === 202)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
    // Concurrently, across both processes, too.
    const other = await stack.tenant('basic', { rpm: 15, burst: 15 });
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => send(i % 2 ? second.url : stack.api!.url, other.apiKey, 'POST', '/v1/messages', message(i))),
    );
    expect(answers.filter((a) => a.status === 202)).toHaveLength(15);
  });
});
