import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { createApiKey, createDatabase, createTenant, type ThrowawayDatabase } from '@esh3ar/db';
import { deletePrefix, uniquePrefix, waitFor } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';

/*
 * API-key authentication as an attacker meets it (docs/api.md and docs/operations.md), on the real
 * app in-process (inject, which also sets the client address) against real PostgreSQL
 * and Redis. PostgreSQL work is counted by statement name through the app's own pool.
 */

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN_TOKEN = `adm_${randomBytes(24).toString('base64url')}`;
const prefix = uniquePrefix('auth');
let db: ThrowawayDatabase;
let api: InProcessApp;
/** Each test its own addresses (TEST-NET-1), so that one test's refusals do not limit another's. */
let nextAddress = 1;
const address = () => `192.0.2.${nextAddress++}`;

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'auth');
  api = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix, adminToken: ADMIN_TOKEN });
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

const randomKey = () => `esh_${randomBytes(32).toString('base64url')}`;
const lookups = () => api.statements.get('api-key-lookup') ?? 0;

function send(app: InProcessApp, key: string | null, remoteAddress: string, headers: Record<string, string> = {}) {
  return app.app.inject({
    method: 'POST',
    url: '/v1/messages',
    remoteAddress,
    headers: { ...(key === null ? {} : { authorization: `Bearer ${key}` }), 'content-type': 'application/json', ...headers },
    payload: { recipient: '+966501234567', content: 'hi' },
  });
}

async function tenantKey(): Promise<{ tenantId: string; apiKey: string }> {
  const { tenant, apiKey } = await createTenant(api.pool, { name: 'auth', tier: 'enterprise', rpm: 1_000_000, burst: 1_000_000 });
  return { tenantId: tenant.id, apiKey };
}

describe('a flood of random keys', () => {
  it('from one address costs 20 PostgreSQL lookups per 1,000 keys (one per key before): from the 21st, 429 with Retry-After before any database work', async () => {
    const attacker = address();
    const before = lookups();
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof send>> | undefined;
    for (let i = 0; i < 1000; i++) {
      const r = await send(api, randomKey(), attacker);
      statuses.push(r.statusCode);
      limited ??= r.statusCode === 429 ? r : undefined;
    }
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(401));
    expect(statuses.slice(20)).toEqual(Array(980).fill(429));
    expect(lookups() - before).toBe(20);
    expect(JSON.parse(limited!.body)).toMatchObject({
      error: { code: 'RATE_LIMITED', message: expect.stringMatching(/refused API keys/), details: [] },
    });
    const retryAfter = Number(limited!.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });

  it('sent all at once from one address still reaches PostgreSQL only 20 times (attempts are counted before their lookup)', async () => {
    const attacker = address();
    const before = lookups();
    const answers = await Promise.all(Array.from({ length: 200 }, () => send(api, randomKey(), attacker)));
    const counts = Object.groupBy(answers, (r) => String(r.statusCode));
    expect(counts['401']).toHaveLength(20);
    expect(counts['429']).toHaveLength(180);
    expect(lookups() - before).toBe(20);
  });

  it("does not count a new sender's first burst: 30 tenants sending 10 requests each at once from one address are all accepted", async () => {
    const office = address();
    const tenants = await Promise.all(Array.from({ length: 30 }, () => tenantKey()));
    const before = lookups();
    const answers = await Promise.all(tenants.flatMap(({ apiKey }) => Array.from({ length: 10 }, () => send(api, apiKey, office))));
    expect(answers.map((r) => r.statusCode)).toEqual(Array(300).fill(202));
    expect(lookups() - before).toBe(30);
  });

  it('locks out neither other addresses nor keys already in use from the same address', async () => {
    const inUse = await tenantKey();
    expect((await send(api, inUse.apiKey, address())).statusCode).toBe(202);
    const attacker = address();
    for (let i = 0; i < 21; i++) await send(api, randomKey(), attacker);
    expect((await send(api, randomKey(), attacker)).statusCode).toBe(429);
    // A key this process verified is no guess: answered from memory, whatever the address did.
    expect((await send(api, inUse.apiKey, attacker)).statusCode).toBe(202);
    // A key it has not seen yet costs a lookup, which the limited address does not get...
    const fresh = await tenantKey();
    expect((await send(api, fresh.apiKey, attacker)).statusCode).toBe(429);
    // ...any other address does.
    expect((await send(api, fresh.apiKey, address())).statusCode).toBe(202);
  });

  it('repeating one unknown key from many addresses costs one lookup a minute', async () => {
    const key = randomKey();
    const before = lookups();
    for (let i = 0; i < 30; i++) expect((await send(api, key, address())).statusCode).toBe(401);
    expect(lookups() - before).toBe(1);
  });

  it('from many addresses cannot evict a known tenant: it is still answered from memory', async () => {
    const known = await tenantKey();
    expect((await send(api, known.apiKey, address())).statusCode).toBe(202);
    // 1,500 unknown keys, 20 per address: more than the 1,000 refused keys kept in memory.
    for (let a = 0; a < 75; a++) {
      const attacker = `198.51.100.${a + 1}`;
      await Promise.all(Array.from({ length: 20 }, () => send(api, randomKey(), attacker)));
    }
    const before = lookups();
    expect((await send(api, known.apiKey, address())).statusCode).toBe(202);
    expect(lookups() - before).toBe(0);
  });

  it('while PostgreSQL is unreachable, costs one connection attempt a second (503 to the rest), and counts nothing against the address', async () => {
    // A "PostgreSQL" that counts connection attempts and hangs up on each.
    let attempts = 0;
    const refusing = createServer((socket) => {
      attempts++;
      socket.destroy();
    });
    refusing.listen(0, '127.0.0.1');
    await once(refusing, 'listening');
    const { port } = refusing.address() as AddressInfo;
    const down = await startInProcessApp({ databaseUrl: `postgres://127.0.0.1:${port}/nothing`, redisUrl, prefix });
    const office = address();
    try {
      // 75 requests with new keys; each would cost a connection attempt without the pause. The
      // count also takes the app's own pollers (runtime configuration, key events: one a
      // second each), so it is bounded loosely, far below one per request.
      for (let i = 0; i < 25; i++) expect((await send(down, randomKey(), office)).statusCode).toBe(503);
      const answers = await Promise.all(Array.from({ length: 50 }, () => send(down, randomKey(), office)));
      expect(answers.map((r) => r.statusCode)).toEqual(Array<number>(50).fill(503));
      expect(attempts).toBeGreaterThanOrEqual(1);
      expect(attempts).toBeLessThanOrEqual(10);
    } finally {
      await down.close();
      refusing.close();
    }
    // PostgreSQL answering again: a tenant behind the same address is not limited.
    const { apiKey } = await tenantKey();
    expect((await send(api, apiKey, office)).statusCode).toBe(202);
  });

  it('counts an over-long key as refused without looking it up', async () => {
    const attacker = address();
    const before = lookups();
    const r = await send(api, 'x'.repeat(300), attacker);
    expect(r.statusCode).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer realm="esh3ar", error="invalid_token", error_description="invalid API key"');
    for (let i = 0; i < 19; i++) await send(api, 'x'.repeat(300), attacker);
    expect((await send(api, 'x'.repeat(300), attacker)).statusCode).toBe(429);
    expect(lookups() - before).toBe(0);
  });
});

describe('401 answers', () => {
  it('carry WWW-Authenticate: Bearer realm="esh3ar" (RFC 6750), with error="invalid_token" when a key was presented', async () => {
    const missing = await send(api, null, address());
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="esh3ar"');
    expect(JSON.parse(missing.body)).toMatchObject({
      error: { code: 'UNAUTHENTICATED', message: expect.stringMatching(/missing API key/), details: [] },
    });
    const wrong = await send(api, randomKey(), address());
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['www-authenticate']).toBe('Bearer realm="esh3ar", error="invalid_token", error_description="invalid API key"');
    expect(JSON.parse(wrong.body).error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'invalid API key', details: [] });
  });

  it("say when the key was revoked or the tenant disabled; the tenant's other keys keep working, and an enabled tenant is accepted again", async () => {
    const { tenantId, apiKey } = await tenantKey();
    const second = (await createApiKey(api.pool, tenantId))!;
    const client = address();
    for (const key of [apiKey, second.apiKey]) expect((await send(api, key, client)).statusCode).toBe(202);
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

    expect(
      (await api.app.inject({ method: 'DELETE', url: `/v1/admin/tenants/${tenantId}/keys/${second.keyId}`, headers: admin })).statusCode,
    ).toBe(204);
    const revoked = await waitFor(
      () => send(api, second.apiKey, client),
      (r) => r.statusCode !== 202,
      2000,
    );
    expect(revoked.statusCode).toBe(401);
    expect(JSON.parse(revoked.body).error.message).toBe('this API key has been revoked');
    expect(revoked.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    expect((await send(api, apiKey, client)).statusCode).toBe(202);

    expect((await api.app.inject({ method: 'POST', url: `/v1/admin/tenants/${tenantId}/disable`, headers: admin })).statusCode).toBe(200);
    const disabled = await waitFor(
      () => send(api, apiKey, client),
      (r) => r.statusCode !== 202,
      2000,
    );
    expect(disabled.statusCode).toBe(401);
    expect(JSON.parse(disabled.body).error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'this tenant is disabled', details: [] });

    expect((await api.app.inject({ method: 'POST', url: `/v1/admin/tenants/${tenantId}/enable`, headers: admin })).statusCode).toBe(200);
    expect(
      (
        await waitFor(
          () => send(api, apiKey, client),
          (r) => r.statusCode === 202,
          2000,
        )
      ).statusCode,
    ).toBe(202);
  });
});

describe('metrics', () => {
  it('count refused keys by reason and requests limited before a lookup', async () => {
    const text = (await api.app.inject({ method: 'GET', url: '/metrics' })).body;
    // `name{labels} value`, whatever other labels (service) the registry adds.
    const value = (name: string, label = '') => Number(new RegExp(`^${name}\\{[^}]*${label}[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    for (const reason of ['missing', 'malformed', 'unknown', 'revoked', 'disabled']) {
      expect(value('esh3ar_auth_refused_total', `reason="${reason}"`), reason).toBeGreaterThan(0);
    }
    expect(value('esh3ar_auth_limited_total')).toBeGreaterThanOrEqual(980 + 180);
  });
});

describe('last use of a key', () => {
  it('is written in one UPDATE for many requests, when the process flushes (every 30 s, and when it closes)', async () => {
    const other = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix });
    const { tenantId, apiKey } = await tenantKey();
    const client = address();
    const first = Date.now();
    for (let i = 0; i < 200; i++) expect((await send(other, apiKey, client)).statusCode).toBe(202);
    const last = Date.now();
    const lastUsed = async () =>
      (await api.pool.query<{ last_used_at: Date | null }>('SELECT last_used_at FROM api_keys WHERE tenant_id = $1', [tenantId])).rows[0]!
        .last_used_at;
    expect(await lastUsed()).toBeNull();
    await other.close();
    expect(other.statements.get('api-key-usage')).toBe(1);
    const at = (await lastUsed())!.getTime();
    expect(at).toBeGreaterThanOrEqual(first);
    expect(at).toBeLessThanOrEqual(last);
    const listed = await api.app.inject({
      method: 'GET',
      url: `/v1/admin/tenants/${tenantId}/keys`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(JSON.parse(listed.body).items[0].lastUsedAt).toBe(new Date(at).toISOString());
  });
});

describe('client address behind a proxy (API_TRUST_PROXY)', () => {
  it('is the X-Forwarded-For address when the peer is a trusted proxy, and the peer otherwise', async () => {
    const behindProxy = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix, env: { API_TRUST_PROXY: '127.0.0.1' } });
    try {
      const forwarded = (client: string) => ({ 'x-forwarded-for': client });
      for (let i = 0; i < 20; i++)
        expect((await send(behindProxy, randomKey(), '127.0.0.1', forwarded('203.0.113.7'))).statusCode).toBe(401);
      expect((await send(behindProxy, randomKey(), '127.0.0.1', forwarded('203.0.113.7'))).statusCode).toBe(429);
      // Another client behind the same proxy is not limited.
      expect((await send(behindProxy, randomKey(), '127.0.0.1', forwarded('203.0.113.8'))).statusCode).toBe(401);
      // From a peer that is not a trusted proxy, X-Forwarded-For is ignored: no escaping the limit by forging it.
      const attacker = address();
      for (let i = 0; i < 20; i++) await send(api, randomKey(), attacker, forwarded(`203.0.113.${100 + i}`));
      expect((await send(api, randomKey(), attacker, forwarded('203.0.113.200'))).statusCode).toBe(429);
    } finally {
      await behindProxy.close();
    }
  });
});
