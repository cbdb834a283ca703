import { randomBytes, randomUUID } from 'node:crypto';
import { createDatabase, createTenant, getQuietHours, type ThrowawayDatabase } from '@esh3ar/db';
import { deletePrefix, uniquePrefix } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp, type JsonAnswer } from './in-process-app.test-kit.ts';

/*
 * /v1/admin/tenants/{tenantId}/quiet-hours in-process (inject) against real PostgreSQL:
 * set, read, replace, remove, and every refusal in words, never a 500.
 */

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN_TOKEN = `adm_${randomBytes(24).toString('base64url')}`;
const prefix = uniquePrefix('quiet-hours-admin');
let db: ThrowawayDatabase;
let api: InProcessApp;

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'quiet-hours-admin');
  api = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix, adminToken: ADMIN_TOKEN });
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

const admin = (method: string, tenantId: string, body?: unknown, token = ADMIN_TOKEN): Promise<JsonAnswer> =>
  api.send(token, method, `/v1/admin/tenants/${tenantId}/quiet-hours`, body);

async function newTenant(): Promise<string> {
  const { tenant } = await createTenant(api.pool, { name: 'quiet', tier: 'basic' });
  return tenant.id;
}

const OVERNIGHT = { start: '21:00', end: '08:00', defaultTimeZone: 'Asia/Riyadh' };

describe('/v1/admin/tenants/{tenantId}/quiet-hours', () => {
  it('PUT stores them and answers the setting; GET reads them; PUT again replaces them; DELETE removes them', async () => {
    const tenantId = await newTenant();
    const set = await admin('PUT', tenantId, OVERNIGHT);
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ tenantId, ...OVERNIGHT, updatedAt: expect.any(String) });
    expect(Date.parse(set.body.updatedAt)).not.toBeNaN();
    expect(await getQuietHours(api.pool, tenantId)).toMatchObject({ starts: '21:00', ends: '08:00', defaultTimeZone: 'Asia/Riyadh' });

    const got = await admin('GET', tenantId);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(set.body);

    const replaced = await admin('PUT', tenantId, { start: '13:00', end: '15:30', defaultTimeZone: 'Europe/London' });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toEqual({
      tenantId,
      start: '13:00',
      end: '15:30',
      defaultTimeZone: 'Europe/London',
      updatedAt: expect.any(String),
    });
    expect((await admin('GET', tenantId)).body).toEqual(replaced.body);

    const removed = await admin('DELETE', tenantId);
    expect(removed.status).toBe(204);
    expect(removed.body).toBeNull();
    expect(await getQuietHours(api.pool, tenantId)).toBeNull();
    const gone = await admin('GET', tenantId);
    expect(gone.status).toBe(404);
    expect(gone.body.error).toMatchObject({ code: 'NOT_FOUND', message: `tenant ${tenantId} has no quiet hours` });
    const again = await admin('DELETE', tenantId);
    expect(again.status).toBe(404);
    expect(again.body.error.message).toBe(`tenant ${tenantId} has no quiet hours`);
  });

  it('takes the edges of the day, and stores a time zone by the name Intl gives it', async () => {
    const tenantId = await newTenant();
    const r = await admin('PUT', tenantId, { start: '23:59', end: '00:00', defaultTimeZone: 'asia/RIYADH' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ start: '23:59', end: '00:00', defaultTimeZone: 'Asia/Riyadh' });
  });

  it('answers 404 for an unknown tenant, 400 for a malformed tenant id', async () => {
    const unknown = randomUUID();
    const put = await admin('PUT', unknown, OVERNIGHT);
    expect(put.status).toBe(404);
    expect(put.body.error).toMatchObject({ code: 'NOT_FOUND', message: 'no such tenant' });
    expect((await admin('GET', unknown)).status).toBe(404);
    expect((await admin('DELETE', unknown)).status).toBe(404);

    for (const method of ['PUT', 'GET', 'DELETE']) {
      const r = await admin(method, 'not-a-uuid', method === 'PUT' ? OVERNIGHT : undefined);
      expect(r.status, method).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'VALIDATION_FAILED', message: '"tenantId" must be a UUID' });
    }
  });

  it('is refused without the admin token, and with a tenant API key', async () => {
    const { tenant, apiKey } = await createTenant(api.pool, { name: 'quiet key', tier: 'basic' });
    expect((await admin('PUT', tenant.id, OVERNIGHT, '')).status).toBe(401);
    expect((await admin('PUT', tenant.id, OVERNIGHT, apiKey)).status).toBe(401);
    expect((await api.send(null, 'GET', `/v1/admin/tenants/${tenant.id}/quiet-hours`)).status).toBe(401);
    expect(await getQuietHours(api.pool, tenant.id)).toBeNull();
  });

  const HH_MM = '"start" must be a 24-hour time HH:MM from 00:00 to 23:59, such as 21:00';
  it.each<[string, unknown, string]>([
    ['an hour past 23', { ...OVERNIGHT, start: '25:00' }, HH_MM],
    ['24:00', { ...OVERNIGHT, start: '24:00' }, HH_MM],
    ['one digit of hour', { ...OVERNIGHT, start: '9:00' }, HH_MM],
    ['seconds', { ...OVERNIGHT, start: '21:00:00' }, HH_MM],
    ['minutes past 59', { ...OVERNIGHT, start: '21:60' }, HH_MM],
    ['a.m./p.m.', { ...OVERNIGHT, start: '9pm' }, HH_MM],
    ['spaces', { ...OVERNIGHT, start: ' 21:00' }, HH_MM],
    ['a NUL', { ...OVERNIGHT, start: '21:00\u0000' }, HH_MM],
    ['a huge string', { ...OVERNIGHT, start: `21:00${'0'.repeat(60_000)}` }, HH_MM],
    ['a number', { ...OVERNIGHT, end: 800 }, '"end" must be a string'],
    ['null', { ...OVERNIGHT, end: null }, '"end" must be a string'],
    ['a missing field', { start: '21:00', end: '08:00' }, '"defaultTimeZone" is required'],
    ['an unknown field', { ...OVERNIGHT, days: ['fri'] }, 'unknown field "days"'],
    ['the same start and end', { ...OVERNIGHT, end: '21:00' }, 'start and end must differ: a window of 0 or 24 hours is not quiet hours'],
    [
      'an unknown zone',
      { ...OVERNIGHT, defaultTimeZone: 'Mars/Olympus' },
      'unknown time zone "Mars/Olympus": use an IANA name such as Europe/London',
    ],
    [
      'an offset for a zone',
      { ...OVERNIGHT, defaultTimeZone: '+03:00' },
      'unknown time zone "+03:00": use an IANA name such as Europe/London',
    ],
    [
      'a zone with a NUL',
      { ...OVERNIGHT, defaultTimeZone: 'Asia/Riyadh\u0000' },
      'unknown time zone "Asia/Riyadh\\u0000": use an IANA name such as Europe/London',
    ],
    ['an empty zone', { ...OVERNIGHT, defaultTimeZone: '' }, '"defaultTimeZone" must not be empty'],
    ['a huge zone', { ...OVERNIGHT, defaultTimeZone: 'A'.repeat(10_000) }, '"defaultTimeZone" must be at most 64 characters'],
    ['an array', [OVERNIGHT], 'the body must be an object'],
    ['a string', '"21:00-08:00"', 'the body must be an object'],
  ])('PUT with %s is 400 in words, and stores nothing', async (_, body, message) => {
    const tenantId = await newTenant();
    const r = await admin('PUT', tenantId, body);
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'VALIDATION_FAILED', message });
    expect(r.body.error.details[0].message).toBe(message);
    expect(await getQuietHours(api.pool, tenantId)).toBeNull();
  });

  it('takes the request examples /docs/openapi.json documents, as they are', async () => {
    const doc = (await api.app.inject({ method: 'GET', url: '/docs/openapi.json' })).json();
    const media = doc.paths['/v1/admin/tenants/{tenantId}/quiet-hours'].put.requestBody.content['application/json'];
    const examples = Object.values(media.examples as Record<string, { value: unknown }>).map((e) => e.value);
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      const r = await admin('PUT', await newTenant(), example);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
  });

  it('PUT without a body, or with one that is not JSON, is 400 INVALID_JSON', async () => {
    const tenantId = await newTenant();
    for (const payload of ['', '{"start": "21:00",']) {
      const r = await api.app.inject({
        method: 'PUT',
        url: `/v1/admin/tenants/${tenantId}/quiet-hours`,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        payload,
      });
      expect(r.statusCode, payload).toBe(400);
      expect(r.json().error.code).toBe('INVALID_JSON');
    }
  });
});
