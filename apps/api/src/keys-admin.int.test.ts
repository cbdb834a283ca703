import { randomBytes, randomUUID } from 'node:crypto';
import { createDatabase, hashApiKey, type ThrowawayDatabase } from '@esh3ar/db';
import { deletePrefix, uniquePrefix, waitFor } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';

/*
 * The admin API of tenants and their keys (docs/operations.md), in-process against real
 * PostgreSQL and Redis.
 */

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN_TOKEN = `adm_${randomBytes(24).toString('base64url')}`;
const prefix = uniquePrefix('keys-admin');
let db: ThrowawayDatabase;
let api: InProcessApp;

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'keys-admin');
  api = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix, adminToken: ADMIN_TOKEN });
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

/** JSON.parse's own type (any): answers are read as the contract describes them, and checked against it. */
type Json = ReturnType<typeof JSON.parse>;

async function admin(
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  payload?: unknown,
  token: string | null = ADMIN_TOKEN,
): Promise<{ status: number; body: Json; raw: string }> {
  const r = await api.app.inject({
    method,
    url,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
  });
  return { status: r.statusCode, body: r.body === '' ? null : JSON.parse(r.body), raw: r.body };
}

async function sendWith(apiKey: string): Promise<number> {
  const r = await api.app.inject({
    method: 'POST',
    url: '/v1/messages',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    payload: { recipient: '+966501234567', content: 'hi' },
  });
  return r.statusCode;
}

async function newTenant(name = 'keys'): Promise<{ tenantId: string; apiKey: string }> {
  const r = await admin('POST', '/v1/admin/tenants', { name, tier: 'enterprise' });
  expect(r.status).toBe(201);
  return r.body;
}

describe('/v1/admin/tenants/{tenantId}/keys', () => {
  it('POST creates another key, 201 {keyId, apiKey}: it sends at once, and the first key keeps working', async () => {
    const { tenantId, apiKey } = await newTenant();
    const r = await admin('POST', `/v1/admin/tenants/${tenantId}/keys`);
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ keyId: expect.stringMatching(/^[0-9a-f-]{36}$/), apiKey: expect.stringMatching(/^esh_[A-Za-z0-9_-]{43}$/) });
    expect(r.body.apiKey).not.toBe(apiKey);
    expect(await sendWith(r.body.apiKey)).toBe(202);
    expect(await sendWith(apiKey)).toBe(202);
  });

  it('GET lists {keyId, createdAt, lastUsedAt} oldest first, and never a key or its hash', async () => {
    const { tenantId, apiKey } = await newTenant();
    const second = (await admin('POST', `/v1/admin/tenants/${tenantId}/keys`)).body;
    const r = await admin('GET', `/v1/admin/tenants/${tenantId}/keys`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      items: [
        { keyId: expect.any(String), createdAt: expect.any(String), lastUsedAt: null },
        { keyId: second.keyId, createdAt: expect.any(String), lastUsedAt: null },
      ],
    });
    expect(Date.parse(r.body.items[0].createdAt)).toBeLessThanOrEqual(Date.parse(r.body.items[1].createdAt));
    for (const secret of [apiKey, second.apiKey]) {
      const hash = hashApiKey(secret);
      for (const form of [secret, secret.slice(4), hash.toString('hex'), hash.toString('base64'), hash.toString('base64url')])
        expect(r.raw).not.toContain(form);
    }
  });

  it("DELETE revokes: 204, the key is refused (401) within 2 s, the tenant's other key keeps working, the list no longer shows it; again: 404", async () => {
    const { tenantId, apiKey } = await newTenant();
    const second = (await admin('POST', `/v1/admin/tenants/${tenantId}/keys`)).body;
    expect(await sendWith(second.apiKey)).toBe(202);
    const started = Date.now();
    const r = await admin('DELETE', `/v1/admin/tenants/${tenantId}/keys/${second.keyId}`);
    expect(r.status).toBe(204);
    expect(r.raw).toBe('');
    await waitFor(
      () => sendWith(second.apiKey),
      (status) => status === 401,
      2000,
    );
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await sendWith(apiKey)).toBe(202);
    expect((await admin('GET', `/v1/admin/tenants/${tenantId}/keys`)).body.items.map((k: Json) => k.keyId)).not.toContain(second.keyId);
    expect((await admin('DELETE', `/v1/admin/tenants/${tenantId}/keys/${second.keyId}`)).status).toBe(404);
  });

  it("another tenant's key id is 404 everywhere, and that key keeps working", async () => {
    const mine = await newTenant('mine');
    const theirs = await newTenant('theirs');
    const theirKey = (await admin('POST', `/v1/admin/tenants/${theirs.tenantId}/keys`)).body;
    const r = await admin('DELETE', `/v1/admin/tenants/${mine.tenantId}/keys/${theirKey.keyId}`);
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ error: { code: 'NOT_FOUND', message: expect.any(String), details: [] } });
    expect((await admin('GET', `/v1/admin/tenants/${mine.tenantId}/keys`)).body.items.map((k: Json) => k.keyId)).not.toContain(
      theirKey.keyId,
    );
    expect(await sendWith(theirKey.apiKey)).toBe(202);
  });

  it.each([
    ['an unknown tenant', () => `/v1/admin/tenants/${randomUUID()}/keys`],
    ['a malformed tenant id', () => '/v1/admin/tenants/not-a-uuid/keys'],
  ])('answers 404 NOT_FOUND for %s', async (_name, url) => {
    for (const method of ['GET', 'POST'] as const) expect((await admin(method, url())).status, method).toBe(404);
    expect((await admin('DELETE', `${url()}/${randomUUID()}`)).status).toBe(404);
  });

  it('answers 404 for an unknown or malformed key id', async () => {
    const { tenantId } = await newTenant();
    expect((await admin('DELETE', `/v1/admin/tenants/${tenantId}/keys/${randomUUID()}`)).status).toBe(404);
    expect((await admin('DELETE', `/v1/admin/tenants/${tenantId}/keys/nope`)).status).toBe(404);
  });
});

describe('GET /v1/admin/tenants', () => {
  it('lists {id, name, tier, rpm, burst, disabled, createdAt} newest first; pages (limit, nextCursor) never repeat or skip one', async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await newTenant(`page ${i}`)).tenantId);
    const seen: Json[] = [];
    let cursor: string | null = null;
    do {
      const r = await admin('GET', `/v1/admin/tenants?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
      expect(r.status).toBe(200);
      expect(r.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...r.body.items);
      cursor = r.body.nextCursor;
    } while (cursor !== null);
    const ids = seen.map((t) => t.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(created));
    const createdAt = seen.map((t) => Date.parse(t.createdAt));
    expect(createdAt).toEqual([...createdAt].sort((a, b) => b - a));
    const newest = seen.find((t) => t.id === created.at(-1));
    expect(newest).toEqual({
      id: created.at(-1),
      name: 'page 4',
      tier: 'enterprise',
      rpm: null,
      burst: null,
      disabled: false,
      createdAt: expect.any(String),
    });
    expect(JSON.stringify(seen)).not.toMatch(/apiKey|key_hash|esh_/);
  });

  it.each([['limit=0'], ['limit=1001'], ['limit=x'], ['cursor=nope']])('refuses ?%s with 400 VALIDATION_FAILED', async (query) => {
    const r = await admin('GET', `/v1/admin/tenants?${query}`);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('VALIDATION_FAILED');
  });
});

describe('POST /v1/admin/tenants/{tenantId}/disable | enable', () => {
  it('disable: 200 with the tenant, disabled; its keys get 401 "this tenant is disabled" within 2 s; enable: accepted again', async () => {
    const { tenantId, apiKey } = await newTenant('switch');
    expect(await sendWith(apiKey)).toBe(202);
    const off = await admin('POST', `/v1/admin/tenants/${tenantId}/disable`);
    expect(off.status).toBe(200);
    expect(off.body).toEqual({
      id: tenantId,
      name: 'switch',
      tier: 'enterprise',
      rpm: null,
      burst: null,
      disabled: true,
      createdAt: expect.any(String),
    });
    await waitFor(
      () => sendWith(apiKey),
      (status) => status === 401,
      2000,
    );
    // Idempotent: disabling again changes nothing and answers the same.
    expect((await admin('POST', `/v1/admin/tenants/${tenantId}/disable`)).body.disabled).toBe(true);
    const key = (await admin('POST', `/v1/admin/tenants/${tenantId}/keys`)).body;
    expect(await sendWith(key.apiKey)).toBe(401);
    expect((await admin('GET', '/v1/admin/tenants?limit=1000')).body.items.find((t: Json) => t.id === tenantId).disabled).toBe(true);

    const on = await admin('POST', `/v1/admin/tenants/${tenantId}/enable`);
    expect(on.status).toBe(200);
    expect(on.body.disabled).toBe(false);
    await waitFor(
      () => sendWith(apiKey),
      (status) => status === 202,
      2000,
    );
    expect(await sendWith(key.apiKey)).toBe(202);
  });

  it('answers 404 for an unknown tenant', async () => {
    expect((await admin('POST', `/v1/admin/tenants/${randomUUID()}/disable`)).status).toBe(404);
    expect((await admin('POST', `/v1/admin/tenants/${randomUUID()}/enable`)).status).toBe(404);
  });
});

describe('admin authentication', () => {
  it('guards every tenant and key route with ADMIN_TOKEN (401), a tenant key included', async () => {
    const { tenantId, apiKey } = await newTenant();
    const keyId = (await admin('GET', `/v1/admin/tenants/${tenantId}/keys`)).body.items[0].keyId;
    const routes: ['GET' | 'POST' | 'DELETE', string][] = [
      ['GET', '/v1/admin/tenants'],
      ['GET', `/v1/admin/tenants/${tenantId}/keys`],
      ['POST', `/v1/admin/tenants/${tenantId}/keys`],
      ['DELETE', `/v1/admin/tenants/${tenantId}/keys/${keyId}`],
      ['POST', `/v1/admin/tenants/${tenantId}/disable`],
      ['POST', `/v1/admin/tenants/${tenantId}/enable`],
    ];
    for (const [method, url] of routes) {
      for (const token of [null, 'wrong', apiKey])
        expect((await admin(method, url, undefined, token)).status, `${method} ${url}`).toBe(401);
    }
    // Nothing changed: the key still works and is still listed.
    expect(await sendWith(apiKey)).toBe(202);
    expect((await admin('GET', `/v1/admin/tenants/${tenantId}/keys`)).body.items).toHaveLength(1);
  });
});
