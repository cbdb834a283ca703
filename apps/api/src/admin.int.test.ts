import { randomBytes } from 'node:crypto';
import { send, startApp, startStack, type AppProcess, type Stack } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ADMIN_TOKEN = `adm_${randomBytes(24).toString('base64url')}`;
const ADMIN_ROUTES: [string, string, unknown?][] = [
  ['GET', '/v1/admin/config'],
  ['PUT', '/v1/admin/config', { buffer: { capacity: 10 } }],
  ['GET', '/v1/admin/config/history'],
  ['POST', '/v1/admin/config/rollback', { version: 0 }],
  ['POST', '/v1/admin/tenants', { name: 'x', tier: 'basic' }],
];

let stack: Stack;
let withoutAdmin: AppProcess;

beforeAll(async () => {
  stack = await startStack('admin', { env: { ADMIN_TOKEN } });
  withoutAdmin = await startApp('api', { ...stack.env, ADMIN_TOKEN: '' });
});
afterAll(async () => {
  await withoutAdmin?.stop('SIGKILL');
  await stack?.close();
});

describe('admin API authentication', () => {
  it('has no /v1/admin/* routes at all when ADMIN_TOKEN is not set (404, whatever the token)', async () => {
    for (const [method, path, body] of ADMIN_ROUTES) {
      for (const token of [null, ADMIN_TOKEN, 'anything']) {
        const r = await send(withoutAdmin.url, token, method, path, body);
        expect(r.status, `${method} ${path}`).toBe(404);
        expect(r.body.error.code).toBe('NOT_FOUND');
      }
    }
  });

  it('answers 401 UNAUTHENTICATED without the token, with a wrong one of any length, and with a tenant API key', async () => {
    const { apiKey } = await stack.tenant('enterprise');
    const wrongSameLength = ADMIN_TOKEN.slice(0, -1) + (ADMIN_TOKEN.endsWith('A') ? 'B' : 'A');
    const presented = [null, wrongSameLength, 'short', `${ADMIN_TOKEN}x`, apiKey];
    for (const [method, path, body] of ADMIN_ROUTES) {
      for (const token of presented) {
        const r = await send(stack.api!.url, token, method, path, body);
        expect(r.status, `${method} ${path} with ${token}`).toBe(401);
        expect(r.body).toEqual({
          error: { code: 'UNAUTHENTICATED', message: expect.any(String), details: [], requestId: r.headers.get('x-request-id') },
        });
      }
    }
    const basic = await send(stack.api!.url, null, 'GET', '/v1/admin/config', undefined, {
      authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`,
    });
    expect(basic.status).toBe(401);
    // Nothing was changed by any of these.
    expect((await send(stack.api!.url, ADMIN_TOKEN, 'GET', '/v1/admin/config')).body.version).toBe(0);
  });

  it('accepts the token, and the token is not an API key for the message routes', async () => {
    expect((await send(stack.api!.url, ADMIN_TOKEN, 'GET', '/v1/admin/config')).status).toBe(200);
    expect(
      (await send(stack.api!.url, null, 'GET', '/v1/admin/config', undefined, { authorization: `bearer ${ADMIN_TOKEN}` })).status,
    ).toBe(200);
    const r = await send(stack.api!.url, ADMIN_TOKEN, 'POST', '/v1/messages', { recipient: '+966501234567', content: 'hi' });
    expect(r.status).toBe(401);
  });
});

describe('POST /v1/admin/tenants', () => {
  it('creates a tenant: 201 {tenantId, apiKey}; the key sends at once, with its own limits', async () => {
    const r = await send(stack.api!.url, ADMIN_TOKEN, 'POST', '/v1/admin/tenants', { name: 'Acme', tier: 'premium', rpm: 42, burst: 5 });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ tenantId: expect.stringMatching(/^[0-9a-f-]{36}$/), apiKey: expect.stringMatching(/^esh_/) });
    const { rows } = await stack.pool.query('SELECT name, tier, rpm, burst FROM tenants WHERE id = $1', [r.body.tenantId]);
    expect(rows[0]).toEqual({ name: 'Acme', tier: 'premium', rpm: 42, burst: 5 });
    const sent = await send(stack.api!.url, r.body.apiKey, 'POST', '/v1/messages', { recipient: '+966501234567', content: 'hi' });
    expect(sent.status).toBe(202);
    expect(sent.headers.get('x-ratelimit-limit')).toBe('42');
    // A tenant's key is not an admin token.
    expect((await send(stack.api!.url, r.body.apiKey, 'POST', '/v1/admin/tenants', { name: 'x', tier: 'basic' })).status).toBe(401);

    const tierOnly = await send(stack.api!.url, ADMIN_TOKEN, 'POST', '/v1/admin/tenants', { name: 'Small', tier: 'basic' });
    expect(tierOnly.status).toBe(201);
    const limit = (
      await send(stack.api!.url, tierOnly.body.apiKey, 'POST', '/v1/messages', { recipient: '+966501234567', content: 'hi' })
    ).headers.get('x-ratelimit-limit');
    expect(limit).toBe('100');
  });

  it.each([
    ['no name', { tier: 'basic' }, '/name'],
    ['a blank name', { name: '  ', tier: 'basic' }, '/name'],
    ['an unknown tier', { name: 'x', tier: 'gold' }, '/tier'],
    ['rpm 0', { name: 'x', tier: 'basic', rpm: 0 }, '/rpm'],
    ['a fractional burst', { name: 'x', tier: 'basic', burst: 1.5 }, '/burst'],
    ['an unknown field', { name: 'x', tier: 'basic', colour: 'red' }, '/colour'],
  ])('refuses %s with 400 VALIDATION_FAILED and creates nothing', async (_name, body, path) => {
    const before = await stack.pool.query('SELECT count(*) AS n FROM tenants');
    const r = await send(stack.api!.url, ADMIN_TOKEN, 'POST', '/v1/admin/tenants', body);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('VALIDATION_FAILED');
    expect(r.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    expect((await stack.pool.query('SELECT count(*) AS n FROM tenants')).rows).toEqual(before.rows);
  });

  it('refuses a body that is not JSON', async () => {
    const r = await send(stack.api!.url, ADMIN_TOKEN, 'POST', '/v1/admin/tenants', '{"name":', { 'content-type': 'application/json' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_JSON');
  });
});

describe('queue board (Bull Board)', () => {
  it('is served behind ADMIN_TOKEN, as a bearer token or as HTTP Basic credentials from a browser', async () => {
    const url = `${stack.api!.url}/v1/admin/queues`;
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect((await fetch(url, { headers: { authorization: `Basic ${Buffer.from('ops:wrong').toString('base64')}` } })).status).toBe(401);
    const page = await fetch(url, { headers: { authorization: `Basic ${Buffer.from(`ops:${ADMIN_TOKEN}`).toString('base64')}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    const queues = await send(stack.api!.url, ADMIN_TOKEN, 'GET', '/v1/admin/queues/api/queues');
    expect(queues.status).toBe(200);
    expect(queues.body.queues.map((q: { name: string }) => q.name).sort()).toEqual(['ingest', 'send-email', 'send-sms', 'send-whatsapp']);
    expect((await fetch(`${withoutAdmin.url}/v1/admin/queues`)).status).toBe(404);
  });
});
