import { randomUUID } from 'node:crypto';
import { PROVIDER_CHANNELS, sampleBufferedMessage, sendQueueName, type BufferedMessage } from '@esh3ar/contracts';
import { createDatabase, createPool, storeBatch, type ThrowawayDatabase } from '@esh3ar/db';
import { deletePrefix, uniquePrefix, uuidv7 } from '@esh3ar/stack';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';

/*
 * POST /v1/admin/dlq/replay with a filter, on the real app in-process (inject): every match
 * replayed a page per transaction, `limit` and `more`, `dryRun`, and a 400 in words for each
 * filter value that is wrong.
 */

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('dlq-replay-filter');
const ADMIN_TOKEN = 'dlq-replay-filter-admin-token-0123456789';
let db: ThrowawayDatabase;
let api: InProcessApp;
let pool: pg.Pool;

/** `count` messages of one tenant stored, then dead-lettered in one statement, as the send processor does with a job's batch. */
async function deadLetters(tenantId: string, count: number, over: Partial<BufferedMessage> = {}, reason = '503'): Promise<string[]> {
  const messages = Array.from({ length: count }, () => sampleBufferedMessage({ id: uuidv7(), tenantId, channel: 'sms', ...over }));
  await storeBatch(
    pool,
    messages.map((message) => ({ message, state: { status: 'pending', failureReason: null } })),
  );
  const ids = messages.map((m) => m.id);
  await pool.query("UPDATE messages SET status = 'dead_letter', failure_reason = $2, moved_to_dlq_at = now() WHERE id = ANY($1)", [
    ids,
    reason,
  ]);
  return ids;
}

async function statuses(ids: string[]): Promise<Set<string>> {
  const { rows } = await pool.query<{ status: string }>('SELECT status FROM messages WHERE id = ANY($1)', [ids]);
  return new Set(rows.map((r) => r.status));
}

/** Ids of the messages in replay send jobs waiting in Redis, over all channels. */
async function replayJobs(): Promise<string[]> {
  const redis = new Redis(redisUrl);
  const queues = PROVIDER_CHANNELS.map((channel) => new Queue(sendQueueName(channel), { connection: redis, prefix }));
  try {
    const jobs = (await Promise.all(queues.map((q) => q.getJobs(['waiting', 'prioritized'])))).flat();
    return jobs.filter((j) => j.data.reason === 'replay').flatMap((j) => (j.data.messages as { id: string }[]).map((m) => m.id));
  } finally {
    await Promise.all(queues.map((q) => q.close()));
    redis.disconnect();
  }
}

const replay = (body: unknown) => api.send(ADMIN_TOKEN, 'POST', '/v1/admin/dlq/replay', body);
const sorted = (ids: readonly string[]) => [...ids].sort();

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'dlq-replay-filter');
  api = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix, adminToken: ADMIN_TOKEN });
  pool = createPool(db.url, { max: 2, applicationName: 'dlq-replay-filter-test' });
});
afterAll(async () => {
  await pool?.end();
  await api?.close();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

describe('POST /v1/admin/dlq/replay {"filter"}', () => {
  it('replays every match, a page of pageSize per transaction, and answers how many', async () => {
    const tenant = randomUUID();
    const ids = [...(await deadLetters(tenant, 4)), ...(await deadLetters(tenant, 3))];
    const other = await deadLetters(randomUUID(), 2);
    api.statements.clear();

    const r = await replay({ filter: { tenant }, pageSize: 3 });

    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ replayed: 7, ids: expect.any(Array), more: false });
    expect(sorted(r.body.ids)).toEqual(sorted(ids));
    // Three transactions of 3, 3 and 1.
    expect(api.statements.get('dlq-replay')).toBe(3);
    expect(await statuses(ids)).toEqual(new Set(['pending']));
    expect(await statuses(other)).toEqual(new Set(['dead_letter']));
    expect(await replayJobs()).toEqual(expect.arrayContaining(ids));
  });

  it('a filter matching nothing replays nothing and says so', async () => {
    const r = await replay({ filter: { tenant: randomUUID() }, pageSize: 2 });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ replayed: 0, ids: [], more: false });
    const dry = await replay({ filter: { tenant: randomUUID() }, dryRun: true });
    expect(dry.body).toEqual({ dryRun: true, wouldReplay: 0, more: false, groups: [] });
  });

  it('stops at `limit` with "more": true, and the same request goes on with the rest', async () => {
    const tenant = randomUUID();
    const ids = await deadLetters(tenant, 5);
    const first = await replay({ filter: { tenant }, limit: 3, pageSize: 2 });
    expect(first.body).toEqual({ replayed: 3, ids: expect.any(Array), more: true });
    const second = await replay({ filter: { tenant }, limit: 3, pageSize: 2 });
    expect(second.body).toEqual({ replayed: 2, ids: expect.any(Array), more: false });
    expect(sorted([...first.body.ids, ...second.body.ids])).toEqual(sorted(ids));
  });

  it('dryRun counts what would be replayed, per tenant and channel, and changes nothing', async () => {
    const tenant = randomUUID();
    const sms = await deadLetters(tenant, 3);
    const whatsapp = await deadLetters(tenant, 1, { channel: 'whatsapp' });
    const jobsBefore = await replayJobs();

    const r = await replay({ filter: { tenant }, dryRun: true });
    expect(r.body).toEqual({
      dryRun: true,
      wouldReplay: 4,
      more: false,
      groups: [
        { tenantId: tenant, channel: 'sms', count: 3 },
        { tenantId: tenant, channel: 'whatsapp', count: 1 },
      ],
    });
    const limited = await replay({ filter: { tenant }, dryRun: true, limit: 2 });
    expect(limited.body).toMatchObject({ dryRun: true, wouldReplay: 2, more: true });

    expect(await statuses([...sms, ...whatsapp])).toEqual(new Set(['dead_letter']));
    expect(await replayJobs()).toEqual(jobsBefore);
  });

  it('a message dead-lettered while the replay runs is left for the next one, which replays it once', async () => {
    const tenant = randomUUID();
    const ids = await deadLetters(tenant, 4);
    const late = sampleBufferedMessage({ id: uuidv7(), tenantId: tenant, channel: 'sms' });
    await storeBatch(pool, [{ message: late, state: { status: 'pending', failureReason: null } }]);
    // The late message fails for good inside the replay's first page (its first event row).
    await pool.query(`
      CREATE FUNCTION dead_letter_during_replay() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE messages SET status = 'dead_letter', failure_reason = 'failed during the replay', moved_to_dlq_at = clock_timestamp()
        WHERE id = '${late.id}' AND status = 'pending';
        RETURN NULL;
      END $$;
      CREATE TRIGGER dead_letter_during_replay AFTER INSERT ON message_events
        FOR EACH ROW WHEN (NEW.detail = 'replayed from the dead-letter queue') EXECUTE FUNCTION dead_letter_during_replay();
    `);
    try {
      const r = await replay({ filter: { tenant }, pageSize: 2 });
      expect(sorted(r.body.ids)).toEqual(sorted(ids));
      expect(r.body.more).toBe(false);
      expect(await statuses([late.id])).toEqual(new Set(['dead_letter']));
    } finally {
      await pool.query('DROP TRIGGER dead_letter_during_replay ON message_events; DROP FUNCTION dead_letter_during_replay()');
    }
    const next = await replay({ filter: { tenant }, pageSize: 2 });
    expect(next.body).toEqual({ replayed: 1, ids: [late.id], more: false });
  });

  it('takes "%" and "_" in "error" as themselves: no wildcard widens a replay to every dead letter', async () => {
    const tenant = randomUUID();
    await deadLetters(tenant, 2, {}, 'provider answered 503');
    for (const error of ['%', '_', '5_3']) {
      const r = await replay({ filter: { tenant, error } });
      expect(r.body, error).toEqual({ replayed: 0, ids: [], more: false });
    }
  });

  it('takes a time with any RFC 3339 offset, as the instant it names', async () => {
    const tenant = randomUUID();
    const [id] = await deadLetters(tenant, 1);
    const r = await replay({ filter: { tenant, since: '2000-01-01T23:30:00+23:59', until: '9999-12-31T00:00:00-12:00' } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.ids).toEqual([id]);
  });
});

describe('POST /v1/admin/dlq/replay with REDIS_WAIT_REPLICAS 1 on a Redis without a replica', () => {
  it('answers 503 in words and leaves the page in the DLQ: its send jobs reached no replica (WAIT)', async () => {
    const waiting = await startInProcessApp({
      databaseUrl: db.url,
      redisUrl,
      prefix,
      adminToken: ADMIN_TOKEN,
      env: { REDIS_WAIT_REPLICAS: '1' },
    });
    try {
      const tenant = randomUUID();
      const ids = await deadLetters(tenant, 2);
      const r = await waiting.send(ADMIN_TOKEN, 'POST', '/v1/admin/dlq/replay', { filter: { tenant } });
      expect(r.status).toBe(503);
      expect(r.body.error.message).toMatch(/no dead letter was replayed/);
      expect(await statuses(ids)).toEqual(new Set(['dead_letter']));
    } finally {
      await waiting.close();
    }
  });
});

describe('POST /v1/admin/dlq/replay refuses what it cannot take, in words', () => {
  const filter = (values: Record<string, unknown>) => ({ filter: values });
  it.each<[string, unknown, string, string]>([
    ['an unknown channel', filter({ channel: 'fax' }), '/filter/channel', '"filter.channel" must be one of sms, whatsapp, email'],
    ['a tenant that is no UUID', filter({ tenant: "x' OR '1'='1" }), '/filter/tenant', '"filter.tenant" must be a UUID'],
    [
      'NUL in the error text',
      filter({ error: 'a\u0000b' }),
      '/filter/error',
      '"filter.error" must not contain NUL (U+0000) or a lone surrogate (half of a UTF-16 pair)',
    ],
    [
      'a lone surrogate in the error text',
      filter({ error: 'a\ud800' }),
      '/filter/error',
      '"filter.error" must not contain NUL (U+0000) or a lone surrogate (half of a UTF-16 pair)',
    ],
    ['empty error text', filter({ error: '' }), '/filter/error', '"filter.error" must not be empty'],
    [
      'error text over 200 characters',
      filter({ error: 'x'.repeat(201) }),
      '/filter/error',
      '"filter.error" must be at most 200 characters',
    ],
    [
      'a time that is no time',
      filter({ since: 'yesterday' }),
      '/filter/since',
      '"filter.since" must be a date and time such as 2025-01-31T09:30:00Z',
    ],
    [
      'the year 0000',
      filter({ until: '0000-01-01T00:00:00Z' }),
      '/filter/until',
      '"filter.until" must be a date and time from the year 1 to 9999, such as 2025-01-31T09:30:00Z',
    ],
    [
      'since after until',
      filter({ since: '2025-02-01T00:00:00Z', until: '2025-01-01T00:00:00Z' }),
      '/filter/since',
      '"filter.since" must be before "filter.until"',
    ],
    ['an unknown filter field', filter({ colour: 'red' }), '/filter/colour', 'unknown field "filter.colour"'],
    ['a filter that is no object', { filter: 'everything' }, '/filter', '"filter" must be an object'],
    ['limit 0', { filter: {}, limit: 0 }, '/limit', '"limit" must be at least 1'],
    ['a fractional limit', { filter: {}, limit: 1.5 }, '/limit', '"limit" must be an integer'],
    ['a limit as a string', { filter: {}, limit: '10' }, '/limit', '"limit" must be an integer'],
    ['a page over 10000', { filter: {}, pageSize: 10_001 }, '/pageSize', '"pageSize" must be at most 10000'],
    ['dryRun that is no boolean', { filter: {}, dryRun: 'yes' }, '/dryRun', '"dryRun" must be true or false'],
    ['ids and a filter', { ids: [randomUUID()], filter: {} }, '/', 'give "ids" or "filter", not both'],
    ['limit with ids', { ids: [randomUUID()], limit: 1 }, '/limit', 'unknown field "limit"'],
    [
      'neither ids nor a filter',
      { everything: true },
      '/',
      'the body must be {"ids": [message ids]} or {"filter": {tenant, channel, error, since, until}, limit, pageSize, dryRun}',
    ],
  ])('%s', async (_name, body, path, message) => {
    const r = await replay(body);
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'VALIDATION_FAILED', message, details: [{ path, message }] });
  });

  it('GET /v1/admin/dlq refuses the same times and takes back its own cursors', async () => {
    const r = await api.send(ADMIN_TOKEN, 'GET', '/v1/admin/dlq?since=0000-01-01T00:00:00Z');
    expect(r.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: '/since' }] });
    const forged = Buffer.from(`2025-01-31T09:30:00+23:59|${randomUUID()}`).toString('base64url');
    expect((await api.send(ADMIN_TOKEN, 'GET', `/v1/admin/dlq?cursor=${forged}`)).body.error.message).toBe(
      '"cursor" is not one this api returned',
    );

    const tenant = randomUUID();
    const ids = await deadLetters(tenant, 3);
    const first = await api.send(ADMIN_TOKEN, 'GET', `/v1/admin/dlq?tenant=${tenant}&limit=2`);
    const second = await api.send(ADMIN_TOKEN, 'GET', `/v1/admin/dlq?tenant=${tenant}&limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.nextCursor).toBeNull();
    expect(sorted([...first.body.items, ...second.body.items].map((d: { id: string }) => d.id))).toEqual(sorted(ids));
  });
});
