import { createDatabase, createTenant, type TenantTier } from '@esh3ar/db';
import { deletePrefix, startPrivateRedis, uniquePrefix, waitFor, type PrivateRedis } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp } from './in-process-app.test-kit.ts';
import { bufferStorer } from './store-buffered.test-kit.ts';

/*
 * Admission under load on the real app in-process (inject, in-process-app.test-kit.ts)
 * against real PostgreSQL and Redis. No worker runs: the buffer is drained when a test
 * says so (store-buffered.test-kit.ts), and the app re-reads its depth when the test
 * calls refreshDepth(), as main.ts's 200 ms timer would.
 */

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar';
const sharedRedisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const message = (priority: string) => ({ recipient: '+966501234567', content: `a ${priority} message`, priority });

/** A database and REDIS_PREFIX of their own, and the app on them; close() releases all three. */
async function startApi(label: string, env: Record<string, string>, redisUrl = sharedRedisUrl) {
  const db = await createDatabase(databaseUrl, label);
  const prefix = uniquePrefix(label);
  const app = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix, env });
  return {
    app,
    async tenant(tier: TenantTier = 'enterprise', limits: { rpm?: number; burst?: number } = {}) {
      const { tenant, apiKey } = await createTenant(app.pool, { name: label, tier, rpm: limits.rpm ?? null, burst: limits.burst ?? null });
      return { tenantId: tenant.id, apiKey };
    },
    async close() {
      await app.close();
      await db.drop();
      if (redisUrl === sharedRedisUrl) await deletePrefix(redisUrl, prefix);
    },
  };
}
type Api = Awaited<ReturnType<typeof startApi>>;

describe('backpressure on the buffer (capacity 10, watermark 0.5, no worker storing)', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi('backpressure', { BUFFER_CAPACITY: '10', BUFFER_HIGH_WATERMARK: '0.5' });
  });
  afterAll(async () => api?.close());

  it('sheds low and normal from the watermark, high and critical at capacity, and drops nothing it accepted', async () => {
    const send = api.app.send;
    const { apiKey, tenantId } = await api.tenant();
    const accepted: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await send(apiKey, 'POST', '/v1/messages', message(i % 2 ? 'low' : 'normal'));
      expect(r.status).toBe(202);
      accepted.push(r.body.id);
    }
    for (const priority of ['low', 'normal']) {
      const r = await send(apiKey, 'POST', '/v1/messages', message(priority));
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('OVERLOADED');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    for (let i = 0; i < 5; i++) {
      const r = await send(apiKey, 'POST', '/v1/messages', message(i % 2 ? 'high' : 'critical'));
      expect(r.status).toBe(202);
      accepted.push(r.body.id);
    }
    for (const priority of ['critical', 'high']) {
      const r = await send(apiKey, 'POST', '/v1/messages', message(priority));
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('OVERLOADED');
    }
    const batch = await send(apiKey, 'POST', '/v1/messages/batch', { messages: [message('critical')] });
    expect(batch.body).toMatchObject({ accepted: 0, rejected: 1, results: [{ index: 0, error: { code: 'OVERLOADED' } }] });

    const ready = await send(null, 'GET', '/health/ready');
    expect(ready.body.checks.buffer).toEqual({ depth: 10, capacity: 10, utilization: 1 });

    // A worker drains the buffer: exactly the accepted messages are stored, and intake reopens.
    expect(await bufferStorer(api.app)()).toBe(accepted.length);
    const stored = (await api.app.pool.query<{ id: string }>('SELECT id FROM messages WHERE tenant_id = $1', [tenantId])).rows.map(
      (r) => r.id,
    );
    expect(stored.sort()).toEqual([...accepted].sort());
    await api.app.enqueuer.refreshDepth();
    expect((await send(apiKey, 'POST', '/v1/messages', message('low'))).status).toBe(202);
  });
});

describe('backpressure at capacity 200 (watermark 0.8), no worker storing, concurrent senders', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi('backpressure-200', { BUFFER_CAPACITY: '200' });
  });
  afterAll(async () => api?.close());

  /** `total` requests of one priority, `wave` at a time; the ids of those answered 202. */
  async function sendWaves(apiKey: string, priority: string, total: number, wave = 25): Promise<{ accepted: string[]; refused: number }> {
    const accepted: string[] = [];
    let refused = 0;
    for (let sent = 0; sent < total; sent += wave) {
      const answers = await Promise.all(
        Array.from({ length: Math.min(wave, total - sent) }, () => api.app.send(apiKey, 'POST', '/v1/messages', message(priority))),
      );
      for (const r of answers) {
        if (r.status === 202) accepted.push(r.body.id);
        else {
          expect(r.status).toBe(503);
          expect(r.body.error.code).toBe('OVERLOADED');
          expect(r.headers.get('retry-after')).toBe('2');
          refused++;
        }
      }
    }
    return { accepted, refused };
  }

  it('normal is shed from 160, critical admitted up to 200; after a worker drains, 202 again; every 202 stored once', async () => {
    const send = api.app.send;
    const { apiKey, tenantId } = await api.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 });
    const normal = await sendWaves(apiKey, 'normal', 250);
    expect(normal.accepted).toHaveLength(160);
    expect(normal.refused).toBe(90);
    const critical = await sendWaves(apiKey, 'critical', 60);
    expect(critical.accepted).toHaveLength(40);
    expect((await send(apiKey, 'POST', '/v1/messages', message('high'))).status).toBe(503);
    expect((await send(null, 'GET', '/health/ready')).body.checks.buffer).toEqual({ depth: 200, capacity: 200, utilization: 1 });

    await bufferStorer(api.app)();
    await api.app.enqueuer.refreshDepth();
    const reopened = await send(apiKey, 'POST', '/v1/messages', message('normal'));
    expect(reopened.status).toBe(202);
    await bufferStorer(api.app)();
    const accepted = [...normal.accepted, ...critical.accepted, reopened.body.id as string];
    const { rows } = await api.app.pool.query<{ id: string; copies: string }>(
      'SELECT id, count(*) AS copies FROM messages WHERE tenant_id = $1 GROUP BY id',
      [tenantId],
    );
    expect(rows.map((r) => r.id).sort()).toEqual([...accepted].sort());
    expect(rows.every((r) => r.copies === '1')).toBe(true);
  });
});

describe('memory pressure (@fastify/under-pressure)', () => {
  let api: Api;
  beforeAll(async () => {
    // Any heap is over 1 byte: from the first 1 s sample on, the process is under pressure.
    api = await startApi('pressure', { API_MAX_HEAP_BYTES: '1' });
  });
  afterAll(async () => api?.close());

  it('sheds the message routes with 503 OVERLOADED and Retry-After, and still answers /health/* and /metrics', async () => {
    const send = api.app.send;
    const { apiKey } = await api.tenant('enterprise');
    const shed = await waitFor(
      () => send(apiKey, 'POST', '/v1/messages', message('critical')),
      (r) => r.status !== 202,
      10_000,
    );
    expect(shed.status).toBe(503);
    expect(shed.body).toEqual({
      error: {
        code: 'OVERLOADED',
        message: expect.stringContaining('under pressure'),
        details: [],
        requestId: shed.headers.get('x-request-id'),
      },
    });
    expect(shed.headers.get('retry-after')).toBe('2');
    expect((await send(apiKey, 'GET', '/v1/messages')).status).toBe(503);
    expect((await send(null, 'GET', '/health/live')).status).toBe(200);
    expect((await send(null, 'GET', '/health/ready')).status).toBe(200);
    const metrics = await send(null, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/esh3ar_messages_refused_total\{[^}]*reason="pressure"[^}]*\} [1-9]/);
  });
});

describe('Redis unreachable', () => {
  // A private Redis, so that stopping it disturbs no other test; durable as production runs it.
  let redis: PrivateRedis;
  let api: Api;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    api = await startApi('redis-down', {}, redis.url);
  });
  afterAll(async () => {
    await api?.close();
    await redis?.destroy();
  });

  it('answers 503 UNAVAILABLE with Retry-After, quickly, and /health/ready says so', async () => {
    const send = api.app.send;
    const { apiKey } = await api.tenant();
    expect((await send(apiKey, 'POST', '/v1/messages', message('normal'))).status).toBe(202);
    await redis.kill();
    const r = await send(apiKey, 'POST', '/v1/messages', message('critical'));
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('UNAVAILABLE');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const ready = await send(null, 'GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.status).toBe('unavailable');
  });
});
