import { createDatabase, createTenant, type TenantTier, type ThrowawayDatabase } from '@esh3ar/db';
import { deletePrefix, uniquePrefix } from '@esh3ar/stack';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';
import { bufferStorer } from './store-buffered.test-kit.ts';

/*
 * The message routes on the real app in-process (inject, in-process-app.test-kit.ts) against
 * real PostgreSQL and Redis. What a worker stores is stored when a test waits for it
 * (store-buffered.test-kit.ts); until then a message is only in the buffer.
 */

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('api-messages');
let db: ThrowawayDatabase;
let app: InProcessApp;
let storeBuffered: () => Promise<number>;
let key: string;
let tenantId: string;

const message = (over: Record<string, unknown> = {}) => ({ recipient: '+966501234567', content: 'Your order has shipped', ...over });
const send = (...args: Parameters<InProcessApp['send']>) => app.send(...args);

async function tenant(tier: TenantTier = 'enterprise', limits: { rpm?: number; burst?: number } = {}) {
  const created = await createTenant(app.pool, { name: 'api-messages', tier, rpm: limits.rpm ?? null, burst: limits.burst ?? null });
  return { tenantId: created.tenant.id, apiKey: created.apiKey };
}

async function storedCount(tenant: string): Promise<number> {
  const { rows } = await app.pool.query<{ n: string }>('SELECT count(*) AS n FROM messages WHERE tenant_id = $1', [tenant]);
  return Number(rows[0]!.n);
}

/** The message as GET answers it once a worker has stored what the buffer holds. */
async function waitStored(id: string, apiKey = key) {
  await storeBuffered();
  const r = await send(apiKey, 'GET', `/v1/messages/${id}`);
  expect(r.status).toBe(200);
  expect(r.body.status).not.toBe('queued');
  return r;
}

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'api-messages');
  app = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix });
  storeBuffered = bufferStorer(app);
  ({ apiKey: key, tenantId } = await tenant('enterprise'));
});
afterAll(async () => {
  await app?.close();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

describe('POST /v1/messages', () => {
  it('answers 202 with a UUIDv7 id, Location and rate-limit headers, then stores the message as pending', async () => {
    const before = Date.now();
    const r = await send(key, 'POST', '/v1/messages', message({ subject: 'Order 1234', priority: 'high', metadata: { orderId: '1234' } }));
    expect(r.status).toBe(202);
    expect(r.body.status).toBe('queued');
    expect(r.body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Date.parse(r.body.acceptedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(r.headers.get('location')).toBe(`/v1/messages/${r.body.id}`);
    expect(Number(r.headers.get('x-ratelimit-limit'))).toBe(10_000);
    expect(Number(r.headers.get('x-ratelimit-remaining'))).toBeLessThan(10_000);
    expect(r.headers.get('x-ratelimit-reset')).not.toBeNull();

    const stored = await waitStored(r.body.id);
    expect(stored.body).toMatchObject({
      id: r.body.id,
      status: 'pending',
      recipient: '+966501234567',
      channel: 'app',
      priority: 'high',
      subject: 'Order 1234',
      content: 'Your order has shipped',
      metadata: { orderId: '1234' },
      attempts: 0,
      deliveredAt: null,
      failureReason: null,
    });
    expect(stored.body.events.map((e: { status: string }) => e.status)).toEqual(['queued', 'pending']);
  });

  it('shows a message as queued while it is still in the buffer', async () => {
    const r = await send(key, 'POST', '/v1/messages', message({ content: 'still buffered' }));
    expect(r.status).toBe(202);
    const queued = await send(key, 'GET', `/v1/messages/${r.body.id}`);
    expect(queued.status).toBe(200);
    expect(queued.body).toMatchObject({ id: r.body.id, status: 'queued', content: 'still buffered' });
    const other = await tenant();
    expect((await send(other.apiKey, 'GET', `/v1/messages/${r.body.id}`)).status).toBe(404);
    expect((await waitStored(r.body.id)).body.status).toBe('pending');
  });

  it('shows what an SMS costs (encoding and segments) from acceptance on, and null for other channels', async () => {
    const arabic = 'م'.repeat(71); // UCS-2: 70 characters fit one segment, 71 take two
    const sms = await send(key, 'POST', '/v1/messages', message({ channel: 'sms', content: arabic }));
    const queued = await send(key, 'GET', `/v1/messages/${sms.body.id}`);
    expect(queued.body).toMatchObject({ status: 'queued', sms: { encoding: 'UCS-2', segments: 2 } });
    expect((await waitStored(sms.body.id)).body.sms).toEqual({ encoding: 'UCS-2', segments: 2 });
    const latin = await send(key, 'POST', '/v1/messages', message({ channel: 'sms', content: 'a'.repeat(160) }));
    expect((await waitStored(latin.body.id)).body.sms).toEqual({ encoding: 'GSM-7', segments: 1 });
    const app = await send(key, 'POST', '/v1/messages', message({ content: arabic }));
    expect((await waitStored(app.body.id)).body.sms).toBeNull();
    const list = await send(key, 'GET', '/v1/messages?limit=3');
    expect(list.body.items.map((m: { sms: unknown }) => m.sms)).toEqual([
      null,
      { encoding: 'GSM-7', segments: 1 },
      { encoding: 'UCS-2', segments: 2 },
    ]);
  });
});

describe('content fidelity', () => {
  const samples = {
    tabs: 'a\tb\t\tc',
    newlines: 'line1\nline2\r\nline3\r',
    backslashes: 'C:\\path\\to\\file \\\\ end\\',
    copyMarkers: '\\.\n\\N\n\\.',
    quotes: `"double" 'single' \`back\``,
    arabic: 'مرحبا بك في إشعار',
    emoji: '👋🏽 😀 👨‍👩‍👧‍👦 🇸🇦',
    longest: 'x'.repeat(4095) + '😀'.slice(0, 1).replace(/./, 'y'),
  };

  it('property: any string without U+0000 comes back byte-exact (API → Redis → COPY → GET)', async () => {
    const text = fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }).filter((t) => !t.includes('\u0000'));
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            content: text,
            subject: fc.option(
              fc.string({ unit: 'binary', maxLength: 200 }).filter((t) => !t.includes('\u0000')),
              { nil: undefined },
            ),
          }),
          { minLength: 1, maxLength: 20 },
        ),
        async (items) => {
          const r = await send(key, 'POST', '/v1/messages/batch', { messages: items.map((i) => message(i)) });
          expect(r.status).toBe(202);
          expect(r.body.accepted).toBe(items.length);
          sent += items.length;
          for (const [index, item] of items.entries()) {
            const stored = await waitStored(r.body.results[index].id);
            expect(stored.body.content).toBe(item.content);
            expect(stored.body.subject).toBe(item.subject ?? null);
          }
        },
      ),
      { numRuns: 15 },
    );
    const { rows } = await app.pool.query<{ n: string }>('SELECT count(DISTINCT id) AS n FROM messages WHERE tenant_id = $1', [tenantId]);
    expect(Number(rows[0]!.n)).toBeGreaterThanOrEqual(sent);
  });

  it.each(Object.entries(samples))('stores and returns %s byte-exact', async (_name, content) => {
    const subject = 's\t\\'.repeat(66) + 'ab';
    expect(subject.length).toBe(200);
    const r = await send(key, 'POST', '/v1/messages', message({ content, subject, metadata: { k: content.slice(0, 1000) } }));
    expect(r.status).toBe(202);
    const stored = await waitStored(r.body.id);
    expect(stored.body.content).toBe(content);
    expect(stored.body.subject).toBe(subject);
    expect(stored.body.metadata).toEqual({ k: content.slice(0, 1000) });
  });
});

describe('errors', () => {
  it('401 UNAUTHENTICATED without a key or with a wrong one', async () => {
    for (const k of [null, 'esh_not-a-real-key']) {
      const r = await send(k, 'POST', '/v1/messages', message());
      expect(r.status).toBe(401);
      expect(r.body).toEqual({
        error: { code: 'UNAUTHENTICATED', message: expect.any(String), details: [], requestId: r.headers.get('x-request-id') },
      });
    }
    expect((await send('bad', 'GET', '/v1/messages')).status).toBe(401);
  });

  it('400 INVALID_JSON for a body that is not JSON', async () => {
    for (const body of ['{"recipient": ', 'not json', '']) {
      const r = await send(key, 'POST', '/v1/messages', body, { 'content-type': 'application/json' });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('INVALID_JSON');
    }
  });

  it.each([
    ['a bad phone number', message({ recipient: '0501234567' }), '/recipient'],
    ['too few digits', message({ recipient: '+1234567' }), '/recipient'],
    ['an email for channel app', message({ recipient: 'a@b.co' }), '/recipient'],
    ['a phone for channel email', message({ channel: 'email' }), '/recipient'],
    ['no content', { recipient: '+966501234567' }, '/content'],
    ['empty content', message({ content: '' }), '/content'],
    ['content over 4096 characters', message({ content: 'x'.repeat(4097) }), '/content'],
    ['U+0000 in content', message({ content: 'a\u0000b' }), '/content'],
    ['a lone surrogate', message({ content: 'a\ud800b' }), '/content'],
    ['a subject over 200 characters', message({ subject: 's'.repeat(201) }), '/subject'],
    ['an unknown priority', message({ priority: 'urgent' }), '/priority'],
    ['an unknown channel', message({ channel: 'pigeon' }), '/channel'],
    ['a ttl of 0', message({ ttlSeconds: 0 }), '/ttlSeconds'],
    ['a ttl as a string', message({ ttlSeconds: '60' }), '/ttlSeconds'],
    ['a fallback with channel sms', message({ channel: 'sms', fallback: 'whatsapp' }), '/fallback'],
    ['17 metadata values', message({ metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }), '/metadata'],
    ['a metadata number', message({ metadata: { n: 1 } }), '/metadata'],
    ['an unknown field', message({ sender: 'me' }), '/sender'],
    ['an array body', [message()], '/'],
  ])('400 VALIDATION_FAILED for %s', async (_name, body, path) => {
    const r = await send(key, 'POST', '/v1/messages', body);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('VALIDATION_FAILED');
    expect(r.body.error.message).toEqual(expect.any(String));
    expect(r.body.error.details.some((d: { path: string }) => d.path === path || d.path.startsWith(`${path}/`))).toBe(true);
    expect(JSON.stringify(r.body)).not.toMatch(/at .*\.ts:\d+|node_modules/);
  });

  it('413 PAYLOAD_TOO_LARGE over 64 KiB for one message and 1 MiB for a batch', async () => {
    const single = await send(key, 'POST', '/v1/messages', message({ content: 'x'.repeat(70 * 1024) }));
    expect(single.status).toBe(413);
    expect(single.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    const big = { messages: Array.from({ length: 300 }, () => message({ content: 'x'.repeat(4000) })) };
    const batch = await send(key, 'POST', '/v1/messages/batch', big);
    expect(batch.status).toBe(413);
    expect(batch.body.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('415 UNSUPPORTED_MEDIA_TYPE for anything but application/json', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const r = await send(key, 'POST', '/v1/messages', JSON.stringify(message()), { 'content-type': type });
      expect(r.status).toBe(415);
      expect(r.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('404 NOT_FOUND for an unknown id, a malformed id, and another tenant’s id', async () => {
    const mine = await send(key, 'POST', '/v1/messages', message());
    await waitStored(mine.body.id);
    const other = await tenant();
    for (const [k, id] of [
      [key, '01937a6e-0000-7000-8000-000000000000'],
      [key, 'not-an-id'],
      [other.apiKey, mine.body.id],
    ] as const) {
      const r = await send(k, 'GET', `/v1/messages/${id}`);
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('NOT_FOUND');
    }
  });

  it('stores nothing for any rejected request', async () => {
    const t = await tenant('enterprise');
    const rejected = [
      await send(t.apiKey, 'POST', '/v1/messages', message({ content: '' })),
      await send(t.apiKey, 'POST', '/v1/messages', 'nope', { 'content-type': 'application/json' }),
      await send(t.apiKey, 'POST', '/v1/messages', JSON.stringify(message()), { 'content-type': 'text/plain' }),
      await send(t.apiKey, 'POST', '/v1/messages', message({ content: 'x'.repeat(70 * 1024) })),
      await send(t.apiKey, 'POST', '/v1/messages/batch', { messages: [] }),
    ];
    expect(rejected.map((r) => r.status)).toEqual([400, 400, 415, 413, 400]);
    // A message accepted after them is stored; by then anything the rejected ones left would be too.
    const ok = await send(t.apiKey, 'POST', '/v1/messages', message());
    await waitStored(ok.body.id, t.apiKey);
    expect(await storedCount(t.tenantId)).toBe(1);
  });
});

describe('POST /v1/messages/batch', () => {
  it('accepts the valid messages and reports each rejected one by index', async () => {
    const r = await send(key, 'POST', '/v1/messages/batch', {
      messages: [message({ content: 'one' }), message({ recipient: 'nope' }), message({ content: 'three', priority: 'critical' })],
    });
    expect(r.status).toBe(202);
    expect(r.body.accepted).toBe(2);
    expect(r.body.rejected).toBe(1);
    expect(r.body.results[0]).toMatchObject({ index: 0, status: 'queued', id: expect.any(String) });
    expect(r.body.results[1]).toMatchObject({ index: 1, error: { code: 'VALIDATION_FAILED', message: expect.stringContaining('E.164') } });
    expect(r.body.results[2]).toMatchObject({ index: 2, status: 'queued' });
    const third = await waitStored(r.body.results[2].id);
    expect(third.body).toMatchObject({ content: 'three', priority: 'critical' });
  });

  it('400 for an envelope that is not { messages: [1..1000] }', async () => {
    for (const body of [{}, { messages: [] }, { messages: 'x' }, { messages: Array.from({ length: 1001 }, () => ({})) }]) {
      const r = await send(key, 'POST', '/v1/messages/batch', body);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_FAILED');
    }
  });
});

describe('Idempotency-Key', () => {
  it('replays the first answer for the same key and body, and stores once', async () => {
    const t = await tenant();
    const headers = { 'idempotency-key': 'order-1234-shipped' };
    const first = await send(t.apiKey, 'POST', '/v1/messages', message(), headers);
    const again = await send(t.apiKey, 'POST', '/v1/messages', message(), headers);
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(again.headers.get('location')).toBe(`/v1/messages/${first.body.id}`);
    await waitStored(first.body.id, t.apiKey);
    const followUp = await send(t.apiKey, 'POST', '/v1/messages', message({ content: 'later' }));
    await waitStored(followUp.body.id, t.apiKey);
    expect(await storedCount(t.tenantId)).toBe(2);
  });

  it('422 IDEMPOTENCY_KEY_REUSED for the same key with another body', async () => {
    const headers = { 'idempotency-key': 'reused-key' };
    expect((await send(key, 'POST', '/v1/messages', message(), headers)).status).toBe(202);
    const r = await send(key, 'POST', '/v1/messages', message({ content: 'different' }), headers);
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('keys are per tenant, and concurrent repeats get one id', async () => {
    const a = await tenant();
    const b = await tenant();
    const headers = { 'idempotency-key': 'shared-name' };
    const [ra, rb] = await Promise.all([
      send(a.apiKey, 'POST', '/v1/messages', message(), headers),
      send(b.apiKey, 'POST', '/v1/messages', message(), headers),
    ]);
    expect(ra.body.id).not.toBe(rb.body.id);
    const burst = await Promise.all(
      Array.from({ length: 10 }, () =>
        send(a.apiKey, 'POST', '/v1/messages', message({ content: 'c' }), { 'idempotency-key': 'concurrent' }),
      ),
    );
    expect(new Set(burst.map((r) => r.body.id)).size).toBe(1);
    expect(burst.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(9);
  });
});

describe('rate limits', () => {
  it('429 RATE_LIMITED with Retry-After once a tenant’s own limit is used, counting each batch message', async () => {
    const t = await tenant('basic', { rpm: 5, burst: 5 });
    const batch = await send(t.apiKey, 'POST', '/v1/messages/batch', { messages: [message(), message(), message()] });
    expect(batch.status).toBe(202);
    expect(Number(batch.headers.get('x-ratelimit-remaining'))).toBe(2);
    expect((await send(t.apiKey, 'POST', '/v1/messages', message())).status).toBe(202);
    expect((await send(t.apiKey, 'POST', '/v1/messages', message())).status).toBe(202);
    const over = await send(t.apiKey, 'POST', '/v1/messages', message());
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe('RATE_LIMITED');
    const retryAfter = Number(over.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(over.headers.get('x-ratelimit-remaining')).toBe('0');
    // Another tenant is not affected.
    expect((await send(key, 'POST', '/v1/messages', message())).status).toBe(202);
  });
});

describe('GET /v1/messages', () => {
  it('pages newest first with a cursor, never repeating or skipping, and only the tenant’s own', async () => {
    const t = await tenant();
    const other = await tenant();
    await send(other.apiKey, 'POST', '/v1/messages', message({ content: 'not yours' }));
    const ids: string[] = [];
    for (let i = 0; i < 23; i++) {
      const r = await send(t.apiKey, 'POST', '/v1/messages', message({ content: `m${i}`, priority: i % 2 ? 'low' : 'high' }));
      ids.push(r.body.id);
    }
    await storeBuffered();
    expect(await storedCount(t.tenantId)).toBe(23);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `?limit=5&cursor=${cursor}` : '?limit=5';
      const page = await send(t.apiKey, 'GET', `/v1/messages${query}`);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(5);
      seen.push(...page.body.items.map((m: { id: string }) => m.id));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(5);
    expect(seen).toEqual([...ids].reverse());
    const pending = await send(t.apiKey, 'GET', '/v1/messages?status=pending&limit=1000');
    expect(pending.body.items).toHaveLength(23);
    expect((await send(t.apiKey, 'GET', '/v1/messages?status=delivered')).body).toEqual({ items: [], nextCursor: null });
  });

  it('400 for a bad limit, status or cursor', async () => {
    for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'status=lost', 'cursor=%%%']) {
      const r = await send(key, 'GET', `/v1/messages?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_FAILED');
    }
  });
});

describe('operations', () => {
  it('serves /health/live, /health/ready with the buffer, and Prometheus /metrics', async () => {
    expect((await send(null, 'GET', '/health/live')).status).toBe(200);
    const ready = await send(null, 'GET', '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ok', checks: { redis: 'ok', postgres: 'ok', buffer: { capacity: 50_000 } } });
    expect(ready.body.checks.buffer.depth).toBeGreaterThanOrEqual(0);
    const metrics = (await send(null, 'GET', '/metrics')).body;
    expect(metrics).toMatch(/^esh3ar_messages_accepted_total\{priority="normal",service="api"\} [1-9]/m);
    expect(metrics).toMatch(/^esh3ar_http_request_duration_seconds_bucket\{/m);
    expect(metrics).toMatch(/^esh3ar_nodejs_eventloop_lag_seconds/m);
  });
});
