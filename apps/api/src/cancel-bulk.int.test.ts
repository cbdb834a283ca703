import { PRIORITIES, type BufferedMessage } from '@esh3ar/contracts';
import { claimProviderCalls, createDatabase, createTenant, markSent, storeBatch, type RowState, type ThrowawayDatabase } from '@esh3ar/db';
import { deletePrefix, uniquePrefix, uuidv7 } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asGatewayOf } from './gateway-notices.test-kit.ts';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';
import { EMPTY_FILTER } from './routes/cancel-bulk.ts';

/*
 * POST /v1/messages/cancel on the real app in-process (inject) against real PostgreSQL and
 * Redis. Messages are stored directly with storeBatch, as a worker stores them, in the
 * statuses each case needs.
 */

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('api-cancel-bulk');
let db: ThrowawayDatabase;
let app: InProcessApp;

const HOUR = 3600_000;
const at = (hours: number) => new Date(Date.now() + hours * HOUR).toISOString();

async function tenant() {
  const created = await createTenant(app.pool, { name: 'bulk', tier: 'enterprise' });
  return { id: created.tenant.id, key: created.apiKey };
}

interface Spec {
  recipient?: string;
  channel?: BufferedMessage['channel'];
  metadata?: Record<string, string> | null;
  /** Stored as scheduled for then; pending without it. */
  sendAt?: string;
}

/** Messages of a tenant stored as the worker stores them; their ids, in order. */
async function stored(tenantId: string, specs: Spec[]): Promise<string[]> {
  const rows = specs.map((spec) => {
    const message: BufferedMessage = {
      id: uuidv7(),
      tenantId,
      recipient: spec.recipient ?? '+966501234567',
      channel: spec.channel ?? 'app',
      priority: PRIORITIES[1],
      subject: null,
      content: 'Your order has shipped',
      metadata: spec.metadata ?? null,
      ttlSeconds: null,
      fallback: null,
      fallbackAfterSeconds: null,
      idempotencyKey: null,
      acceptedAt: new Date().toISOString(),
      sendAt: spec.sendAt ?? null,
    };
    const state: RowState =
      spec.sendAt === undefined
        ? { status: 'pending', failureReason: null }
        : { status: 'scheduled', failureReason: null, sendAt: spec.sendAt };
    return { message, state };
  });
  await storeBatch(app.pool, rows);
  return rows.map((r) => r.message.id);
}

async function statuses(ids: readonly string[]): Promise<string[]> {
  const { rows } = await app.pool.query<{ id: string; status: string }>('SELECT id, status FROM messages WHERE id = ANY($1::uuid[])', [
    ids,
  ]);
  const byId = new Map(rows.map((r) => [r.id, r.status]));
  return ids.map((id) => byId.get(id) ?? 'absent');
}

const bulk = (apiKey: string, body: unknown) => app.send(apiKey, 'POST', '/v1/messages/cancel', body);

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'api-cancel-bulk');
  app = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix });
});
afterAll(async () => {
  await app?.close();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

describe('POST /v1/messages/cancel', () => {
  it('a dry run counts and changes nothing; the run cancels what matches, leaves what a provider has, and no other tenant’s', async () => {
    const a = await tenant();
    const b = await tenant();
    const c1 = { campaign: 'c1', region: 'east' };
    const [scheduled, pending, claimed, sent, otherCampaign] = await stored(a.id, [
      { metadata: c1, sendAt: at(2) },
      { metadata: c1 },
      { metadata: c1, channel: 'sms' },
      { metadata: c1 },
      { metadata: { campaign: 'c2' } },
    ]);
    const [otherTenant] = await stored(b.id, [{ metadata: c1, sendAt: at(2) }]);
    await markSent(app.pool, [sent!], 'pushed to 1 device');
    await claimProviderCalls(app.pool, [claimed!], { from: ['pending'], leaseMs: 60_000, provider: 'sim', deduplicating: [] });
    const all = [scheduled!, pending!, claimed!, sent!, otherCampaign!, otherTenant!];
    const before = await statuses(all);

    const dry = await bulk(a.key, { metadata: { campaign: 'c1' }, dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body).toEqual({ matched: 3, canceled: 0, dryRun: true });
    expect(await statuses(all)).toEqual(before);

    const run = await bulk(a.key, { metadata: { campaign: 'c1' } });
    expect(run.body).toEqual({ matched: 3, canceled: 2, dryRun: false });
    expect(await statuses(all)).toEqual(['canceled', 'canceled', 'pending', 'sent', 'pending', 'scheduled']);
    const view = await app.send(a.key, 'GET', `/v1/messages/${scheduled}`);
    expect(view.body.events.at(-1)).toMatchObject({ status: 'canceled', detail: 'canceled by the sender (bulk)' });
    expect((await bulk(a.key, { metadata: { campaign: 'c1' } })).body).toEqual({ matched: 1, canceled: 0, dryRun: false });
  });

  it('combines its filters: recipient, status, a sendAt range [from, to), and every metadata pair', async () => {
    const t = await tenant();
    const from = at(1);
    const to = at(3);
    const [atFrom, inside, atTo, otherPhone, pendingOne, wrongPair] = await stored(t.id, [
      { sendAt: from, metadata: { a: '1', b: '2' } },
      { sendAt: at(2), metadata: { a: '1', b: '2', c: '3' } },
      { sendAt: to, metadata: { a: '1', b: '2' } },
      { sendAt: at(2), metadata: { a: '1', b: '2' }, recipient: '+966500000001' },
      { metadata: { a: '1', b: '2' } },
      { sendAt: at(2), metadata: { a: '1', b: '3' } },
    ]);
    const filter = { recipient: '+966501234567', status: ['scheduled'], sendAtFrom: from, sendAtTo: to, metadata: { a: '1', b: '2' } };
    expect((await bulk(t.key, { ...filter, dryRun: true })).body).toEqual({ matched: 2, canceled: 0, dryRun: true });
    expect((await bulk(t.key, filter)).body).toEqual({ matched: 2, canceled: 2, dryRun: false });
    expect(await statuses([atFrom!, inside!, atTo!, otherPhone!, pendingOne!, wrongPair!])).toEqual([
      'canceled',
      'canceled',
      'scheduled',
      'scheduled',
      'pending',
      'scheduled',
    ]);
    // A range in another offset names the same instants.
    const plus3 = (iso: string) => new Date(Date.parse(iso) + 3 * HOUR).toISOString().replace('Z', '+03:00');
    expect((await bulk(t.key, { sendAtFrom: plus3(from), sendAtTo: plus3(to), dryRun: true })).body.matched).toBe(2);
    expect((await bulk(t.key, { status: ['pending'] })).body).toEqual({ matched: 1, canceled: 1, dryRun: false });
  });

  it('cancels past one chunk (a span of 5,000 messages a statement) until none is left, and tells the gateways of app messages', async () => {
    const t = await tenant();
    const phone = '+966507777777';
    await asGatewayOf(app, redisUrl, prefix, phone, async (_notices, next) => {
      const notice = next();
      // The first chunk's span holds 2,000 others and 3,000 to cancel, the second 1,000 to cancel.
      const others = await stored(
        t.id,
        Array.from({ length: 2_000 }, () => ({ sendAt: at(1), metadata: { batch: 'small' } })),
      );
      const many = await stored(
        t.id,
        Array.from({ length: 4_000 }, (_, i) => ({
          sendAt: at(1),
          metadata: { batch: 'big' },
          ...(i % 1000 === 0 ? { recipient: phone } : {}),
        })),
      );
      expect((await bulk(t.key, { metadata: { batch: 'big' } })).body).toEqual({ matched: 4_000, canceled: 4_000, dryRun: false });
      expect(new Set(await statuses(many))).toEqual(new Set(['canceled']));
      expect(new Set(await statuses(others))).toEqual(new Set(['scheduled']));
      const { rows } = await app.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM message_events WHERE message_id = ANY($1::uuid[]) AND status = 'canceled'",
        [many],
      );
      expect(rows[0]!.n).toBe(4_000);
      const [, payload] = (await notice) as [string, string];
      const ids = (JSON.parse(payload) as { canceled: { id: string; recipient: string }[] }).canceled;
      expect(ids.every((item) => item.recipient === phone)).toBe(true);
      expect(ids.length).toBeGreaterThan(0);
    });
  });

  it('400 VALIDATION_FAILED in words for an empty filter, a status it cannot cancel from, an unknown field, a range the wrong way round, a time PostgreSQL cannot hold', async () => {
    const t = await tenant();
    for (const [body, message] of [
      [{}, EMPTY_FILTER],
      [{ dryRun: true }, EMPTY_FILTER],
      [{ status: ['sent'] }, /status/],
      [{ status: [] }, /status/],
      [{ recipient: '+966501234567', colour: 'red' }, 'unknown field "colour"'],
      [{ sendAtFrom: 'tomorrow' }, /sendAtFrom/],
      [{ sendAtFrom: at(2), sendAtTo: at(1) }, '"sendAtFrom" must be before "sendAtTo"'],
      [{ metadata: {} }, /metadata/],
      // Date-times the schema takes that PostgreSQL does not: a leap second, the year 0, past 9999 once in UTC.
      [
        { sendAtFrom: '2025-01-01T23:59:60Z' },
        '"sendAtFrom" must be a date and time from the year 1 to 9999, such as 2025-01-31T09:30:00Z',
      ],
      [{ sendAtTo: '0000-01-01T00:00:00Z' }, '"sendAtTo" must be a date and time from the year 1 to 9999, such as 2025-01-31T09:30:00Z'],
      [{ sendAtTo: '9999-12-31T23:59:59-23:59' }, /"sendAtTo" must be a date and time/],
    ] as const) {
      const r = await bulk(t.key, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_FAILED');
      if (typeof message === 'string') expect(r.body.error.message).toBe(message);
      else expect(r.body.error.message).toMatch(message);
    }
  });
});
