import type { IngestJobData } from '@esh3ar/contracts';
import { createDatabase, createTenant, storeBatch, type RowState, type ThrowawayDatabase } from '@esh3ar/db';
import { removeBuffered } from '@esh3ar/queue';
import { deletePrefix, uniquePrefix } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';

/*
 * sendAt through the api, in-process (inject) against real PostgreSQL and Redis: what is
 * accepted and refused, and how the message view shows a scheduled message while queued and
 * once stored. The worker's storing is stood in for here: a message whose sendAt is still
 * ahead is stored as scheduled with it, as apps/worker/src/scheduling/schedule-rows.ts does.
 */

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('api-scheduling');
const DAY = 86_400_000;
let db: ThrowawayDatabase;
let app: InProcessApp;
let key: string;

const message = (over: Record<string, unknown> = {}) => ({ recipient: '+966501234567', content: 'Your table is booked', ...over });
const send = (...args: Parameters<InProcessApp['send']>) => app.send(...args);
const ahead = (ms: number) => new Date(Date.now() + ms).toISOString();

async function storeWaiting(): Promise<void> {
  const jobs = await app.queue.getJobs(['waiting', 'prioritized']);
  const rows = jobs.flatMap((job) =>
    (job.data as IngestJobData).messages.map((m) => {
      const state: RowState =
        m.sendAt != null && Date.parse(m.sendAt) > Date.now()
          ? { status: 'scheduled', failureReason: null, sendAt: m.sendAt }
          : { status: 'pending', failureReason: null };
      return { message: m, state };
    }),
  );
  await storeBatch(app.pool, rows);
  await removeBuffered(
    app.redis,
    app.keys,
    rows.map((r) => r.message.id),
  );
  await Promise.all(jobs.map((job) => job.remove()));
}

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'api-scheduling');
  app = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix });
  ({ apiKey: key } = await createTenant(app.pool, { name: 'api-scheduling', tier: 'enterprise' }));
});
afterAll(async () => {
  await app?.close();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

describe('sendAt', () => {
  it('is shown as the instant it names, in UTC, while queued and once stored as scheduled, with the TTL counted from it', async () => {
    const at = new Date(Date.now() + 2 * 3600_000);
    at.setUTCMilliseconds(0);
    const local = at.toISOString().replace('.000Z', '+00:00');
    const accepted = await send(key, 'POST', '/v1/messages', message({ sendAt: local, ttlSeconds: 600 }));
    expect(accepted.status).toBe(202);
    const { id } = accepted.body;

    const queued = await send(key, 'GET', `/v1/messages/${id}`);
    expect(queued.body).toMatchObject({ status: 'queued', sendAt: at.toISOString(), heldReason: null });

    await storeWaiting();
    const stored = await send(key, 'GET', `/v1/messages/${id}`);
    expect(stored.body).toMatchObject({ status: 'scheduled', sendAt: at.toISOString(), heldReason: null });
    expect(stored.body.events.map((e: { status: string }) => e.status)).toEqual(['queued', 'scheduled']);
    const { rows } = await app.pool.query<{ expires_at: Date }>('SELECT expires_at FROM messages WHERE id = $1', [id]);
    expect(rows[0]!.expires_at.getTime()).toBe(at.getTime() + 600_000);

    const page = await send(key, 'GET', '/v1/messages?status=scheduled');
    expect(page.body.items).toEqual([expect.objectContaining({ id, status: 'scheduled', sendAt: at.toISOString(), heldReason: null })]);
  });

  it('in the past means now: no sendAt in the view, stored pending', async () => {
    const accepted = await send(key, 'POST', '/v1/messages', message({ sendAt: '2025-01-31T09:30:00+03:00' }));
    expect(accepted.status).toBe(202);
    expect((await send(key, 'GET', `/v1/messages/${accepted.body.id}`)).body.sendAt).toBeNull();
    await storeWaiting();
    expect((await send(key, 'GET', `/v1/messages/${accepted.body.id}`)).body).toMatchObject({ status: 'pending', sendAt: null });
  });

  it('shows why a held message waits (heldReason), in the view and the list', async () => {
    const accepted = await send(key, 'POST', '/v1/messages', message({ sendAt: ahead(3600_000) }));
    await storeWaiting();
    const reason = 'held for quiet hours (21:00–08:00 Asia/Riyadh) until 08:00';
    await app.pool.query("UPDATE messages SET held_reason = $2, send_at = send_at + interval '1 hour' WHERE id = $1", [
      accepted.body.id,
      reason,
    ]);
    const view = await send(key, 'GET', `/v1/messages/${accepted.body.id}`);
    expect(view.body).toMatchObject({ status: 'scheduled', heldReason: reason });
    const page = await send(key, 'GET', '/v1/messages?status=scheduled&limit=1');
    expect(page.body.items[0]).toMatchObject({ id: accepted.body.id, heldReason: reason });
  });

  it('is refused in words beyond 35 days or without a time zone; a batch refuses only that message', async () => {
    for (const [sendAt, words] of [
      [ahead(36 * DAY), '"sendAt" must be at most 35 days ahead'],
      ['2030-01-31T09:30:00', /"sendAt" must be a date and time/],
      ['tomorrow', /"sendAt"/],
    ] as const) {
      const r = await send(key, 'POST', '/v1/messages', message({ sendAt }));
      expect(r.status, sendAt).toBe(400);
      expect(r.body.error.details[0].path).toBe('/sendAt');
      if (typeof words === 'string') expect(r.body.error.message).toBe(words);
      else expect(r.body.error.message).toMatch(words);
    }
    const batch = await send(key, 'POST', '/v1/messages/batch', {
      messages: [message({ sendAt: ahead(34 * DAY) }), message({ sendAt: ahead(36 * DAY) })],
    });
    expect(batch.status).toBe(202);
    expect(batch.body).toMatchObject({ accepted: 1, rejected: 1 });
    expect(batch.body.results[1].error.code).toBe('VALIDATION_FAILED');
    const view = await send(key, 'GET', `/v1/messages/${batch.body.results[0].id}`);
    expect(Date.parse(view.body.sendAt)).toBeGreaterThan(Date.now() + 33 * DAY);
  });

  it('an Idempotency-Key repeat with sendAt is answered the first id, stored once', async () => {
    const body = message({ sendAt: ahead(3600_000), content: 'keyed and scheduled' });
    const first = await send(key, 'POST', '/v1/messages', body, { 'idempotency-key': 'scheduled-once' });
    const again = await send(key, 'POST', '/v1/messages', body, { 'idempotency-key': 'scheduled-once' });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    await storeWaiting();
    const { rows } = await app.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM messages WHERE content = 'keyed and scheduled'");
    expect(rows[0]!.n).toBe(1);
  });
});
