import { randomUUID } from 'node:crypto';
import { createPool } from '@esh3ar/db';
import { createRedis, ingestQueues, isCluster, redisKeys } from '@esh3ar/queue';
import { createDatabase, startPrivateRedisCluster, type PrivateRedisCluster, type ThrowawayDatabase } from '@esh3ar/stack';
import type { Queue } from 'bullmq';
import type { Cluster } from 'ioredis';
import type pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authFailureLimiter } from './auth-failures.ts';
import { bodyHash, claimIdempotencyKey, defineIdempotency } from './idempotency.ts';
import { budgeted, slidingWindowBatch, tickLimiter, type WindowDecision } from './rate-limit.ts';

/*
 * The api's Lua scripts and its one MULTI on a real Redis Cluster of 3 masters: a script
 * whose keys span slots is refused with CROSSSLOT. The keys are the api's own (a tenant's
 * limiter keys share its tag, as do its idempotency record and since-key).
 */
let cluster: PrivateRedisCluster;
let redis: Cluster;
let db: ThrowawayDatabase;
let pool: pg.Pool;
let queues: Queue[] = [];
const prefix = `esh3ar-t-api-cluster-${randomUUID().slice(0, 8)}`;
const keys = redisKeys(prefix, { cluster: true });

beforeAll(async () => {
  [cluster, db] = await Promise.all([
    startPrivateRedisCluster({ masters: 3 }),
    createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'api-cluster'),
  ]);
  const made = createRedis({ url: 'redis://unused', clusterNodes: cluster.seeds }, { name: 'esh3ar-test-api-cluster', failFast: true });
  if (!isCluster(made)) throw new Error('createRedis made no Cluster for seed nodes');
  redis = made;
  await redis.connect();
  pool = createPool(db.url, { max: 2, applicationName: 'esh3ar-test-api-cluster' });
  queues = ingestQueues(redis, keys);
}, 60_000);

afterAll(async () => {
  await Promise.all(queues.map((q) => q.close()));
  redis?.disconnect();
  await pool?.end();
  await Promise.allSettled([cluster?.destroy(), db?.drop()]);
});

describe('the api’s scripts on a Cluster', () => {
  it('rate limits each tenant in one script call per tick (sliding-window.lua: three keys in the tenant’s slot)', async () => {
    const tenants = Array.from({ length: 6 }, () => randomUUID());
    const decide = tickLimiter(redis, () => 1_000_000);
    const limits = { windowMs: 60_000, limit: 3, burst: 3 };
    const decisions = await Promise.all(
      tenants.flatMap((t) =>
        [1, 2, 3, 4].map(
          () =>
            new Promise<WindowDecision>((resolve, reject) =>
              decide(budgeted(`${prefix}:rl:{${t}}`, limits), 1, (error, d) => (error === null ? resolve(d!) : reject(error))),
            ),
        ),
      ),
    );
    expect(decisions.map((d) => d.admitted)).toEqual(tenants.flatMap(() => [true, true, true, false]));
    const [later] = await slidingWindowBatch(redis, `${prefix}:rl:{${tenants[0]}}`, 1_060_001, limits, [3]);
    expect(later!.admitted).toBe(true);
  });

  it('claims, commits and replays an Idempotency-Key (idempotency-claim.lua, idempotency-settle.lua)', async () => {
    defineIdempotency(redis);
    const deps = { redis, pool, keys, ingestQueues: queues };
    const answer = { acceptedAt: new Date().toISOString(), entries: [{ id: randomUUID() }] };
    const request = (body: unknown) => ({
      tenantId: randomUUID(),
      key: 'order-1',
      bodyHash: bodyHash(body),
      answer,
      fromStored: () => null,
      log: pino({ level: 'silent' }),
    });
    const first = request({ n: 1 });
    const claim = await claimIdempotencyKey(deps, first);
    if (claim.kind !== 'first') throw new Error(`claimed as ${claim.kind}`);
    await claim.commit();
    expect(await claimIdempotencyKey(deps, first)).toEqual({ kind: 'replay', answer });
    await expect(claimIdempotencyKey(deps, { ...first, bodyHash: bodyHash({ n: 2 }) })).rejects.toMatchObject({
      code: 'IDEMPOTENCY_KEY_REUSED',
    });
  });

  it('limits refused keys per address, and settles an attempt in one MULTI (auth-failures.lua)', async () => {
    const limiter = authFailureLimiter(redis, prefix, { limit: 2, windowMs: 60_000 });
    const attempt = await limiter.attempt('192.0.2.1');
    if (!attempt.admitted) throw new Error('the first attempt was refused');
    await attempt.settle(true);
    expect(await limiter.refusal('192.0.2.1')).toEqual({ admitted: true });
    expect(await limiter.refusal('192.0.2.1')).toMatchObject({ admitted: false });
    expect(await limiter.refusal('192.0.2.2')).toEqual({ admitted: true });
  });
});
