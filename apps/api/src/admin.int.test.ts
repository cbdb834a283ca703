import { randomBytes } from 'node:crypto';
import { createDatabase, createTenant, type ThrowawayDatabase } from '@esh3ar/db';
import { deletePrefix, uniquePrefix } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';

/*
 * The admin routes on the real app in-process (inject, in-process-app.test-kit.ts) against
 * real PostgreSQL and Redis: one app with ADMIN_TOKEN, one without, on the same database.
 */

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN_TOKEN = `adm_${randomBytes(24).toString('base64url')}`;
const ADMIN_ROUTES: [string, string, unknown?][] = [
  ['GET', '/v1/admin/config'],
  ['PUT', '/v1/admin/config', { buffer: { capacity: 10 } }],
  ['GET', '/v1/admin/config/history'],
  ['POST', '/v1/admin/config/rollback', { version: 0 }],
  ['POST', '/v1/admin/tenants', { name: 'x', tier: 'basic' }],
];

const prefix = uniquePrefix('admin');
let db: ThrowawayDatabase;
let api: InProcessApp;
let withoutAdmin: InProcessApp;

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'admin');
  [api, withoutAdmin] = await Promise.all([
    startInProcessApp({ databaseUrl: db.url, redisUrl, prefix, adminToken: ADMIN_TOKEN }),
    startInProcessApp({ databaseUrl: db.url, redisUrl, prefix }),
  ]);
});
afterAll(async () => {
  await Promise.all([api?.close(), withoutAdmin?.close()]);
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

const send = (...args: Parameters<InProcessApp['send']>) => api.send(...args);

describe('admin API authentication', () => {
  it('has no /v1/admin/* routes at all when ADMIN_TOKEN is not set (404, whatever the token)', async () => {
    for (const [method, path, body] of ADMIN_ROUTES) {
      for (const token of [null, ADMIN_TOKEN, 'anything']) {
        const r = await withoutAdmin.send(token, method, path, body);
        expect(r.status, `${method} ${path}`).toBe(404);
        expect(r.body.error.code).toBe('NOT_FOUND');
      }
    }
  });

  it('answers 401 UNAUTHENTICATED without the token, with a wrong one of any length, and with a tenant API key', async () => {
    const { apiKey } = await createTenant(api.pool, { name: 'admin', tier: 'enterprise' });
    const wrongSameLength = ADMIN_TOKEN.slice(0, -1) + (ADMIN_TOKEN.endsWith('A') ? 'B' : 'A');
    const presented = [null, wrongSameLength, 'short', `${ADMIN_TOKEN}x`, apiKey];
    for (const [method, path, body] of ADMIN_ROUTES) {
      for (const token of presented) {
        const r = await send(token, method, path, body);
        expect(r.status, `${method} ${path} with ${token}`).toBe(401);
        expect(r.body).toEqual({
          error: { code: 'UNAUTHENTICATED', message: expect.any(String), details: [], requestId: r.headers.get('x-request-id') },
        });
      }
    }
    const basic = await send(null, 'GET', '/v1/admin/config', undefined, {
      authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`,
    });
    expect(basic.status).toBe(401);
    // Nothing was changed by any of these.
    expect((await send(ADMIN_TOKEN, 'GET', '/v1/admin/config')).body.version).toBe(0);
  });

  it('accepts the token, and the token is not an API key for the message routes', async () => {
    expect((await send(ADMIN_TOKEN, 'GET', '/v1/admin/config')).status).toBe(200);
    expect((await send(null, 'GET', '/v1/admin/config', undefined, { authorization: `bearer ${ADMIN_TOKEN}` })).status).toBe(200);
    const r = await send(ADMIN_TOKEN, 'POST', '/v1/messages', { recipient: '+966501234567', content: 'hi' });
    expect(r.status).toBe(401);
  });
});

describe('POST /v1/admin/tenants', () => {
  it('creates a tenant: 201 {tenantId, apiKey}; the key sends at once, with its own limits', async () => {
    const r = await send(ADMIN_TOKEN, 'POST', '/v1/admin/tenants', { name: 'Acme', tier: 'premium', rpm: 42, burst: 5 });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ tenantId: expect.stringMatching(/^[0-9a-f-]{36}$/), apiKey: expect.stringMatching(/^esh_/) });
    const { rows } = await api.pool.query('SELECT name, tier, rpm, burst FROM tenants WHERE id = $1', [r.body.tenantId]);
    expect(rows[0]).toEqual({ name: 'Acme', tier: 'premium', rpm: 42, burst: 5 });
    const sent = await send(r.body.apiKey, 'POST', '/v1/messages', { recipient: '+966501234567', content: 'hi' });
    expect(sent.status).toBe(202);
    expect(sent.headers.get('x-ratelimit-limit')).toBe('42');
    // A tenant's key is not an admin token.
    expect((await send(r.body.apiKey, 'POST', '/v1/admin/tenants', { name: 'x', tier: 'basic' })).status).toBe(401);

    const tierOnly = await send(ADMIN_TOKEN, 'POST', '/v1/admin/tenants', { name: 'Small', tier: 'basic' });
    expect(tierOnly.status).toBe(201);
    const limit = (await send(tierOnly.body.apiKey, 'POST', '/v1/messages', { recipient: '+966501234567', content: 'hi' })).headers.get(
      'x-ratelimit-limit',
    );
    expect(limit).toBe('100');
  });

  it.each([
    ['no name', { tier: 'basic' }, '/name'],
    ['a blank name', { name: '  ', tier: 'basic' }, '/name'],
    ['an unknown tier', { name: 'x', tier: 'gold' }, '/tier'],
    ['rpm 0', { name: 'x', tier: 'basic', rpm: 0 }, '/rpm'],
    ['a fractional burst', { name: 'x', tier: 'basic', burst: 1.5 }, '/burst'],
    ['an unknown field', { name: 'x', tier: 'basic', colour: 'red' }, '/colour'],
    // Each of these was 503 "the database is unreachable": PostgreSQL refused them.
    ['a NUL in the name', { name: 'acme\u0000', tier: 'basic' }, '/name'],
    ['a lone surrogate in the name', { name: 'acme\ud800', tier: 'basic' }, '/name'],
    ['rpm past a PostgreSQL integer', { name: 'x', tier: 'basic', rpm: 2_147_483_648 }, '/rpm'],
    ['burst of 1e300', { name: 'x', tier: 'basic', burst: 1e300 }, '/burst'],
  ])('refuses %s with 400 VALIDATION_FAILED and creates nothing', async (_name, body, path) => {
    const before = await api.pool.query('SELECT count(*) AS n FROM tenants');
    const r = await send(ADMIN_TOKEN, 'POST', '/v1/admin/tenants', body);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('VALIDATION_FAILED');
    expect(r.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    expect((await api.pool.query('SELECT count(*) AS n FROM tenants')).rows).toEqual(before.rows);
  });

  it('refuses a body that is not JSON', async () => {
    const r = await send(ADMIN_TOKEN, 'POST', '/v1/admin/tenants', '{"name":', { 'content-type': 'application/json' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_JSON');
  });
});

describe('queue board (Bull Board)', () => {
  it('is served behind ADMIN_TOKEN, as a bearer token or as HTTP Basic credentials from a browser', async () => {
    const path = '/v1/admin/queues';
    const anonymous = await send(null, 'GET', path);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect(
      (await send(null, 'GET', path, undefined, { authorization: `Basic ${Buffer.from('ops:wrong').toString('base64')}` })).status,
    ).toBe(401);
    const page = await send(null, 'GET', path, undefined, {
      authorization: `Basic ${Buffer.from(`ops:${ADMIN_TOKEN}`).toString('base64')}`,
    });
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/<html/i);
    const queues = await send(ADMIN_TOKEN, 'GET', '/v1/admin/queues/api/queues');
    expect(queues.status).toBe(200);
    expect(queues.body.queues.map((q: { name: string }) => q.name).sort()).toEqual(['ingest', 'send-email', 'send-sms', 'send-whatsapp']);
    expect((await withoutAdmin.send(null, 'GET', path)).status).toBe(404);
  });
});
