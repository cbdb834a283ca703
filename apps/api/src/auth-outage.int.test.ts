import { randomBytes } from 'node:crypto';
import { createApiKey, createDatabase, createPool, createTenant, revokeApiKey, type ThrowawayDatabase } from '@esh3ar/db';
import { deletePrefix, startPrivatePostgres, uniquePrefix, waitFor, type PrivatePostgres } from '@esh3ar/stack';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';
import { createKeyCache } from './key-cache.ts';

/*
 * Authentication while PostgreSQL is down, on a PostgreSQL server of this file's own,
 * stopped and started for real under the real app in-process (inject,
 * in-process-app.test-kit.ts): a revocation still wins, a key verified a little earlier
 * keeps working (for at most 5 minutes), and a key nobody verified gets 503.
 */

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN_TOKEN = `adm_${randomBytes(24).toString('base64url')}`;
const prefix = uniquePrefix('auth-outage');
let server: PrivatePostgres;
let db: ThrowawayDatabase;
let api: InProcessApp;

beforeAll(async () => {
  server = await startPrivatePostgres();
  db = await createDatabase(server.url, 'auth-outage');
  api = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix, adminToken: ADMIN_TOKEN });
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
  server?.destroy();
});

const message = { recipient: '+966501234567', content: 'hi' };
const randomKey = () => `esh_${randomBytes(32).toString('base64url')}`;

describe('the api while PostgreSQL is down', () => {
  it("refuses a key revoked just before the outage within 2 s, keeps accepting the tenant's other key, and answers 503 UNAVAILABLE to a key it never verified", async () => {
    const { tenant, apiKey } = await createTenant(api.pool, { name: 'auth-outage', tier: 'enterprise' });
    const tenantId = tenant.id;
    const second = (await createApiKey(api.pool, tenantId))!;
    for (const key of [apiKey, second.apiKey]) expect((await api.send(key, 'POST', '/v1/messages', message)).status).toBe(202);

    const started = Date.now();
    expect((await api.send(ADMIN_TOKEN, 'DELETE', `/v1/admin/tenants/${tenantId}/keys/${second.keyId}`)).status).toBe(204);
    server.stop();
    try {
      await waitFor(
        () => api.send(second.apiKey, 'POST', '/v1/messages', message),
        (r) => r.status !== 202,
        2000,
        20,
      );
      expect(Date.now() - started).toBeLessThan(2000);
      // Refused for good, from memory: the revocation notice named the key, so it is 401 without PostgreSQL.
      for (let i = 0; i < 10; i++) {
        const r = await api.send(second.apiKey, 'POST', '/v1/messages', message);
        expect(r.status).toBe(401);
        expect(r.body.error.code).toBe('UNAUTHENTICATED');
      }
      // Verified moments ago and not revoked: still accepted (the message waits in Redis).
      expect((await api.send(apiKey, 'POST', '/v1/messages', message)).status).toBe(202);
      const unknown = await api.send(randomKey(), 'POST', '/v1/messages', message);
      expect(unknown.status).toBe(503);
      expect(unknown.body).toMatchObject({
        error: { code: 'UNAVAILABLE', message: 'the API key store is unreachable; retry shortly', details: [] },
      });
    } finally {
      server.start();
    }
    // Once PostgreSQL answers, nothing above counts against this address: a new key is looked up at once.
    await waitFor(
      () =>
        api.pool.query('SELECT 1').then(
          () => true,
          () => false,
        ),
      Boolean,
    );
    expect((await api.send(second.apiKey, 'POST', '/v1/messages', message)).status).toBe(401);
    expect((await api.send(apiKey, 'POST', '/v1/messages', message)).status).toBe(202);
  });
});

describe('the key cache while PostgreSQL is down', () => {
  let pool: pg.Pool;
  let now = Date.now();
  const clock = () => now;

  beforeAll(() => {
    pool = createPool(db.url, { max: 2, applicationName: 'esh3ar-test-key-cache' });
    pool.on('error', () => undefined);
  });
  afterAll(async () => pool?.end());

  it('honours a verified key for 5 minutes after its last verification and no longer; a forgotten (revoked) key at once no longer', async () => {
    const cache = createKeyCache(pool, { clock });
    const { tenant, apiKey } = await createTenant(pool, { name: 'stale', tier: 'basic' });
    const revoked = (await createApiKey(pool, tenant.id))!;
    for (const key of [apiKey, revoked.apiKey]) expect(await cache.verify(key)).toMatchObject({ kind: 'valid', tenant: { id: tenant.id } });
    const event = (await revokeApiKey(pool, tenant.id, revoked.keyId))!;
    server.stop();
    try {
      // The notification of the revocation arrives while PostgreSQL is down.
      cache.forgetKey(event.keyId!);
      await expect(cache.verify(revoked.apiKey)).rejects.toMatchObject({ code: 'UNAVAILABLE', statusCode: 503 });

      now += 31_000; // past the 30 s in which an answer is reused without asking
      expect(cache.cached(apiKey, now)).toBeUndefined();
      expect(await cache.verify(apiKey)).toMatchObject({ kind: 'valid' });
      now += 4 * 60_000; // 4 min 31 s after the verification
      expect(await cache.verify(apiKey)).toMatchObject({ kind: 'valid' });
      now += 30_000; // 5 min 1 s
      await expect(cache.verify(apiKey)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      await expect(cache.verify(randomKey())).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    } finally {
      server.start();
    }
    expect(await cache.verify(apiKey)).toMatchObject({ kind: 'valid' });
    expect(await cache.verify(revoked.apiKey)).toEqual({ kind: 'revoked' });
  });
});
