import { createDatabase, createTenant } from '@esh3ar/db';
import { DEFAULT_RUNTIME_CONFIG, type RuntimeConfig } from '@esh3ar/runtime';
import { deletePrefix, uniquePrefix } from '@esh3ar/stack';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';

/*
 * A tenant floods GET /v1/messages*: past rateLimit.readsPerMinute it is answered 429
 * before any PostgreSQL work, its send budget and other tenants untouched. The api runs
 * in-process against real PostgreSQL and Redis; the read budget is set low through the
 * runtime configuration, as an operator would.
 */
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('read-rate-limit');
let readsPerMinute = 30;
const runtime = (base: RuntimeConfig): RuntimeConfig => ({ ...base, rateLimit: { ...base.rateLimit, readsPerMinute } });

let api: InProcessApp;
let app: FastifyInstance;
let dropDatabase: () => Promise<void>;

beforeAll(async () => {
  const db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'read-rate-limit');
  dropDatabase = () => db.drop();
  api = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix, runtime });
  app = api.app;
});
afterAll(async () => {
  await api?.close();
  await dropDatabase?.();
  await deletePrefix(redisUrl, prefix);
});

const get = (apiKey: string, url: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${apiKey}` } });

/**
 * A tenant whose key this api has verified once (that read counts: 29 of 30 are left).
 * Until then, concurrent requests with the key would each be a lookup, which the
 * failed-authentication limiter of the client address holds to 20 (auth.ts).
 */
async function tenant(limits: { rpm?: number; burst?: number } = {}): Promise<string> {
  const { apiKey } = await createTenant(api.pool, { name: 'reader', tier: 'basic', rpm: limits.rpm ?? null, burst: limits.burst ?? null });
  expect((await get(apiKey, '/v1/messages')).statusCode).toBe(200);
  return apiKey;
}
const send = (apiKey: string) =>
  app.inject({
    method: 'POST',
    url: '/v1/messages',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    payload: { recipient: '+966501234567', content: 'hi' },
  });
const statuses = (answers: LightMyRequestResponse[]) => answers.map((a) => a.statusCode).sort();
const readStatements = () => (api.statements.get('get-message') ?? 0) + (api.statements.get('list-messages') ?? 0);
async function metric(name: string, labels: string): Promise<number> {
  const text = await api.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('reads are rate-limited per tenant (rateLimit.readsPerMinute)', () => {
  it('a flood of 44 concurrent reads gets exactly the 29 reads left of 30 through; the rest is 429 with Retry-After, before any PostgreSQL work', async () => {
    const apiKey = await tenant();
    const unknownId = '01937a6e-0000-7000-8000-000000000000';
    const before = readStatements();
    const answers = await Promise.all(
      Array.from({ length: 44 }, (_, i) => get(apiKey, i % 3 === 0 ? '/v1/messages' : `/v1/messages/${unknownId}`)),
    );
    const admitted = answers.filter((a) => a.statusCode !== 429);
    expect(statuses(admitted).every((s) => s === 200 || s === 404)).toBe(true);
    expect(admitted).toHaveLength(29);
    // Each admitted read ran one statement; the 15 refused ran none.
    expect(readStatements() - before).toBe(29);

    const refused = answers.filter((a) => a.statusCode === 429);
    expect(refused).toHaveLength(15);
    for (const r of refused) {
      const body = r.json();
      expect(body.error).toMatchObject({
        code: 'RATE_LIMITED',
        message: expect.stringMatching(/^read rate limit exceeded, retry in \d+ s$/),
        requestId: r.headers['x-request-id'],
      });
      const retryAfter = Number(r.headers['retry-after']);
      // The first admission leaves the 60 s window 60 s after it was made.
      expect(retryAfter).toBeGreaterThanOrEqual(59);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(r.headers['x-ratelimit-limit']).toBe('30');
      expect(r.headers['x-ratelimit-remaining']).toBe('0');
      expect(r.headers['x-ratelimit-reset']).toBe(String(retryAfter));
    }
    const first = admitted.map((a) => Number(a.headers['x-ratelimit-remaining'])).sort((a, b) => a - b);
    expect(first).toEqual(Array.from({ length: 29 }, (_, i) => i));
    expect(await metric('esh3ar_api_limit_refusals_total', 'limit="reads"')).toBe(15);
  });

  it('the read budget is not the send budget: a tenant out of reads still sends, and one out of sends still reads', async () => {
    const reader = await tenant({ rpm: 2, burst: 2 });
    const refusedMessagesBefore = await metric('esh3ar_messages_refused_total', 'reason="rate_limit"');
    await Promise.all(Array.from({ length: 30 }, () => get(reader, '/v1/messages')));
    expect((await get(reader, '/v1/messages')).statusCode).toBe(429);
    expect((await send(reader)).statusCode).toBe(202);
    expect((await send(reader)).statusCode).toBe(202);
    const overSends = await send(reader);
    expect(overSends.statusCode).toBe(429);
    expect(overSends.json().error.message).toMatch(/^rate limit exceeded/);
    // Only the refused message counts as a refused message; the refused reads do not.
    expect((await metric('esh3ar_messages_refused_total', 'reason="rate_limit"')) - refusedMessagesBefore).toBe(1);

    const sender = await tenant({ rpm: 1, burst: 1 });
    expect((await send(sender)).statusCode).toBe(202);
    expect((await send(sender)).statusCode).toBe(429);
    const read = await get(sender, '/v1/messages');
    expect(read.statusCode).toBe(200);
    expect(read.headers['x-ratelimit-limit']).toBe('30');
  });

  it('another tenant’s reads are not affected by one tenant’s flood', async () => {
    const [flooder, bystander] = [await tenant(), await tenant()];
    await Promise.all(Array.from({ length: 40 }, () => get(flooder, '/v1/messages')));
    expect((await get(flooder, '/v1/messages')).statusCode).toBe(429);
    expect((await get(bystander, '/v1/messages')).statusCode).toBe(200);
  });

  it('follows the runtime configuration: raising readsPerMinute admits the next read at once', async () => {
    const apiKey = await tenant();
    await Promise.all(Array.from({ length: 29 }, () => get(apiKey, '/v1/messages')));
    expect((await get(apiKey, '/v1/messages')).statusCode).toBe(429);
    readsPerMinute = 40;
    try {
      const r = await get(apiKey, '/v1/messages');
      expect(r.statusCode).toBe(200);
      expect(r.headers['x-ratelimit-limit']).toBe('40');
    } finally {
      readsPerMinute = 30;
    }
  });

  it('defaults to 6000 reads a minute (the contract’s)', () => {
    expect(DEFAULT_RUNTIME_CONFIG.rateLimit.readsPerMinute).toBe(6000);
  });
});
