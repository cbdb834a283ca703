import { createDatabase, createTenant, type ThrowawayDatabase } from '@esh3ar/db';
import { deletePrefix, uniquePrefix } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';

/*
 * What a 400 says, on the real app in-process (inject): the field by its name and the
 * problem in words, whichever validator found it (validateMessage for the send routes,
 * Fastify's Ajv for query strings, TypeBox in the admin routes).
 */

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('validation-messages');
const ADMIN_TOKEN = 'validation-messages-admin-token-0123456789';
let db: ThrowawayDatabase;
let api: InProcessApp;
let apiKey: string;

const VALID = { recipient: '+966501234567', content: 'Your order has shipped' };

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'validation-messages');
  api = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix, adminToken: ADMIN_TOKEN });
  ({ apiKey } = await createTenant(api.pool, { name: 'validation messages', tier: 'enterprise' }));
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

const MESSAGE_CASES: [string, Record<string, unknown>, string, string][] = [
  ['an unknown field', { ...VALID, sender: 'Esh3ar' }, '/sender', 'unknown field "sender"'],
  [
    'a sendAt over 35 days ahead',
    { ...VALID, sendAt: new Date(Date.now() + 36 * 86_400_000).toISOString() },
    '/sendAt',
    '"sendAt" must be at most 35 days ahead',
  ],
  ['no recipient', { content: 'hi' }, '/recipient', '"recipient" is required'],
  ['an unknown priority', { ...VALID, priority: 'urgent' }, '/priority', '"priority" must be one of low, normal, high, critical'],
  ['content over 4096 characters', { ...VALID, content: 'x'.repeat(4097) }, '/content', '"content" must be at most 4096 characters'],
  ['ttlSeconds as a string', { ...VALID, ttlSeconds: '60' }, '/ttlSeconds', '"ttlSeconds" must be an integer'],
  [
    'a recipient that is no phone number',
    { ...VALID, recipient: '0501234567' },
    '/recipient',
    '"recipient" must be an E.164 phone number such as +966501234567',
  ],
];

describe('POST /v1/messages and /v1/messages/batch', () => {
  it.each(MESSAGE_CASES)('name the field and the problem for %s, alone and by its index in a batch', async (_name, body, path, message) => {
    const single = await api.send(apiKey, 'POST', '/v1/messages', body);
    expect(single.status).toBe(400);
    expect(single.body.error).toMatchObject({ code: 'VALIDATION_FAILED', message, details: [{ path, message }] });

    const batch = await api.send(apiKey, 'POST', '/v1/messages/batch', { messages: [VALID, body] });
    expect(batch.status).toBe(202);
    expect(batch.body.results[1]).toEqual({ index: 1, error: { code: 'VALIDATION_FAILED', message } });
  });

  it('lists every field that is wrong, one detail each', async () => {
    const r = await api.send(apiKey, 'POST', '/v1/messages', { sender: 1, colour: 'red' });
    expect(r.body.error.details).toEqual([
      { path: '/recipient', message: '"recipient" is required' },
      { path: '/content', message: '"content" is required' },
      { path: '/sender', message: 'unknown field "sender"' },
      { path: '/colour', message: 'unknown field "colour"' },
    ]);
  });

  it('names the envelope’s own problem for a batch', async () => {
    const r = await api.send(apiKey, 'POST', '/v1/messages/batch', { messages: [] });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toBe('"messages" must not be empty: a batch is { "messages": [ ... ] } with 1 to 1000 messages');
  });
});

describe('query strings, checked by Fastify’s Ajv', () => {
  it.each([
    ['limit=abc', '/limit', '"limit" must be an integer'],
    ['limit=0', '/limit', '"limit" must be at least 1'],
    [
      'status=lost',
      '/status',
      '"status" must be one of queued, scheduled, pending, sent, delivered, failed, dead_letter, expired, canceled',
    ],
  ])('GET /v1/messages?%s', async (query, path, message) => {
    const r = await api.send(apiKey, 'GET', `/v1/messages?${query}`);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'VALIDATION_FAILED', message, details: [{ path, message }] });
  });
});

describe('admin routes', () => {
  it('POST /v1/admin/tenants names each field', async () => {
    const r = await api.send(ADMIN_TOKEN, 'POST', '/v1/admin/tenants', { name: 'x', tier: 'gold', colour: 'red' });
    expect(r.status).toBe(400);
    expect(r.body.error.details).toEqual([
      { path: '/colour', message: 'unknown field "colour"' },
      { path: '/tier', message: '"tier" must be one of basic, premium, enterprise' },
    ]);
    expect(r.body.error.message).toBe('unknown field "colour"');
  });

  it('GET /v1/admin/dlq names the filter that is wrong, and takes limit and cursor', async () => {
    const channel = await api.send(ADMIN_TOKEN, 'GET', '/v1/admin/dlq?channel=fax');
    expect(channel.body.error).toMatchObject({ message: '"channel" must be one of sms, whatsapp, email', details: [{ path: '/channel' }] });
    const since = await api.send(ADMIN_TOKEN, 'GET', '/v1/admin/dlq?since=yesterday');
    expect(since.body.error.message).toBe('"since" must be a date and time such as 2025-01-31T09:30:00Z');
    const unknown = await api.send(ADMIN_TOKEN, 'GET', '/v1/admin/dlq?colour=red');
    expect(unknown.body.error.message).toBe('unknown field "colour"');
    const page = await api.send(ADMIN_TOKEN, 'GET', '/v1/admin/dlq?limit=5');
    expect(page.status).toBe(200);
    expect(page.body).toEqual({ items: [], nextCursor: null });
  });
});
