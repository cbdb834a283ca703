import type { IngestJobData } from '@esh3ar/contracts';
import {
  claimProviderCalls,
  createDatabase,
  createPool,
  createTenant,
  markSent,
  setTenantWebhook,
  storeBatch,
  type RowState,
  type RowToStore,
  type StoreResult,
  type ThrowawayDatabase,
} from '@esh3ar/db';
import { removeBuffered } from '@esh3ar/queue';
import { deletePrefix, uniquePrefix, uuidv7 } from '@esh3ar/stack';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asGatewayOf } from './gateway-notices.test-kit.ts';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';

/*
 * DELETE /v1/messages/{id} on the real app in-process (inject) against real PostgreSQL and
 * Redis. The worker's storing path is driven here directly: storeBatch on a pool of its own,
 * then the buffer index entries and jobs removed, as apps/worker/src/persist does.
 */

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('api-cancel');
let db: ThrowawayDatabase;
let app: InProcessApp;
/** The worker's pool: its COPY merge runs on connections of its own, as in a worker process. */
let workerPool: pg.Pool;
let key: string;

const send = (...args: Parameters<InProcessApp['send']>) => app.send(...args);
const message = (over: Record<string, unknown> = {}) => ({ recipient: '+966501234567', content: 'Your order has shipped', ...over });
const inAnHour = () => new Date(Date.now() + 3600_000).toISOString();

async function accept(body: Record<string, unknown> = message(), apiKey = key): Promise<string> {
  const r = await send(apiKey, 'POST', '/v1/messages', body);
  expect(r.status).toBe(202);
  return r.body.id;
}

/** As the worker stores a message: scheduled while its sendAt is ahead, else pending. */
const workerState = (m: { sendAt?: string | null }): RowState =>
  m.sendAt != null && Date.parse(m.sendAt) > Date.now()
    ? { status: 'scheduled', failureReason: null, sendAt: m.sendAt }
    : { status: 'pending', failureReason: null };

/** The messages of every waiting ingest job, as the worker reads them. */
async function waitingRows(): Promise<{ rows: RowToStore[]; done: () => Promise<void> }> {
  const jobs = await app.queue.getJobs(['waiting', 'prioritized']);
  const rows = jobs.flatMap((job) => (job.data as IngestJobData).messages.map((m) => ({ message: m, state: workerState(m) })));
  return {
    rows,
    async done() {
      await removeBuffered(
        app.redis,
        app.keys,
        rows.map((r) => r.message.id),
      );
      await Promise.all(jobs.map((job) => job.remove()));
    },
  };
}

/** The worker's storing of everything waiting: storeBatch, then the buffer let go of it. */
async function storeWaiting(): Promise<StoreResult> {
  const { rows, done } = await waitingRows();
  const result = await storeBatch(workerPool, rows);
  await done();
  return result;
}

async function row(id: string) {
  const { rows } = await app.pool.query<{ status: string; send_at: Date | null }>('SELECT status, send_at FROM messages WHERE id = $1', [
    id,
  ]);
  return rows[0];
}

async function canceledEvents(id: string): Promise<string[]> {
  const { rows } = await app.pool.query<{ detail: string }>(
    "SELECT detail FROM message_events WHERE message_id = $1 AND status = 'canceled' ORDER BY id",
    [id],
  );
  return rows.map((r) => r.detail);
}

const cancel = (id: string, apiKey = key) => send(apiKey, 'DELETE', `/v1/messages/${id}`);

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'api-cancel');
  app = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix, poolMax: 8 });
  workerPool = createPool(db.url, { max: 4, applicationName: 'esh3ar-test-worker' });
  ({ apiKey: key } = await createTenant(app.pool, { name: 'api-cancel', tier: 'enterprise' }));
});
afterAll(async () => {
  await app?.close();
  await workerPool?.end();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

describe('DELETE /v1/messages/{id}', () => {
  it('cancels a queued message: stored at once as canceled, GET answers the row, the worker does not dispatch it', async () => {
    const id = await accept(message({ sendAt: inAnHour() }));
    const r = await cancel(id);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id, status: 'canceled', sendAt: expect.any(String), heldReason: null });
    expect(r.body.events.map((e: { status: string }) => e.status)).toEqual(['queued', 'canceled']);
    // Still in the buffer, but PostgreSQL's row wins.
    expect((await send(key, 'GET', `/v1/messages/${id}`)).body.status).toBe('canceled');

    const stored = await storeWaiting();
    expect(stored).toMatchObject({ inserted: 0, duplicates: 1 });
    // Given as scheduled, it is not dispatched anyway; pending below.
    expect((await row(id))!.status).toBe('canceled');
    expect(await canceledEvents(id)).toEqual(['canceled by the sender while queued']);
  });

  it('a pending row given by the worker for a message canceled while queued is in StoreResult.settled', async () => {
    const id = await accept();
    expect((await cancel(id)).status).toBe(200);
    const stored = await storeWaiting();
    expect(stored.settled).toEqual([id]);
    expect((await row(id))!.status).toBe('canceled');
  });

  it('cancels a scheduled message: 200 with the view GET answers, sendAt kept', async () => {
    const sendAt = inAnHour();
    const id = await accept(message({ sendAt }));
    await storeWaiting();
    expect((await row(id))!.status).toBe('scheduled');
    const r = await cancel(id);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id, status: 'canceled', sendAt: new Date(sendAt).toISOString() });
    expect(r.body.events.map((e: { status: string }) => e.status)).toEqual(['queued', 'scheduled', 'canceled']);
    expect(r.body.events.at(-1).detail).toBe('canceled by the sender');
    expect((await send(key, 'GET', `/v1/messages/${id}`)).body).toEqual(r.body);
  });

  it('cancels a pending message', async () => {
    const id = await accept();
    await storeWaiting();
    const r = await cancel(id);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('canceled');
    expect(r.body.events.map((e: { status: string }) => e.status)).toEqual(['queued', 'pending', 'canceled']);
  });

  it('409 NOT_CANCELABLE, in words with its status, for a message sent, delivered, final, or canceled already', async () => {
    const sent = await accept();
    const delivered = await accept();
    const expired = await accept();
    await storeWaiting();
    await markSent(app.pool, [sent], 'pushed to 1 device');
    await app.pool.query("UPDATE messages SET status = 'delivered', delivered_at = now() WHERE id = $1", [delivered]);
    await app.pool.query("UPDATE messages SET status = 'expired' WHERE id = $1", [expired]);
    const twice = await accept();
    expect((await cancel(twice)).status).toBe(200);

    for (const [id, words] of [
      [sent, 'the message is already sent'],
      [delivered, 'the message is already delivered'],
      [expired, 'the message is expired, a final status'],
      [twice, 'the message is already canceled'],
    ] as const) {
      const r = await cancel(id);
      expect(r.status, id).toBe(409);
      expect(r.body.error).toMatchObject({ code: 'NOT_CANCELABLE', message: `${words}: it cannot be canceled` });
    }
    expect((await row(sent))!.status).toBe('sent');
    expect((await row(delivered))!.status).toBe('delivered');
  });

  it('404 like GET for an unknown id, a malformed one, and another tenant’s, queued or stored', async () => {
    const other = await createTenant(app.pool, { name: 'other', tier: 'basic' });
    const storedId = await accept(message(), other.apiKey);
    await storeWaiting();
    const stillQueued = await accept(message(), other.apiKey);
    const get404 = (await send(key, 'GET', `/v1/messages/${uuidv7()}`)).body.error;
    for (const id of [uuidv7(), 'not-a-uuid', storedId, stillQueued]) {
      const r = await cancel(id);
      expect(r.status, id).toBe(404);
      expect(r.body.error).toMatchObject({ code: 'NOT_FOUND', message: get404.message });
    }
    expect((await row(storedId))!.status).toBe('pending');
    expect(await row(stillQueued)).toBeUndefined();
    expect((await cancel(stillQueued, other.apiKey)).status).toBe(200);
  });

  it('a provider message: 409 while a provider call of it is in progress; once canceled, a claim finds nothing to send', async () => {
    const calling = await accept(message({ channel: 'sms' }));
    const canceled = await accept(message({ channel: 'sms' }));
    await storeWaiting();
    const options = { from: ['pending'], leaseMs: 60_000, provider: 'sim', deduplicating: ['sim'] };
    expect((await claimProviderCalls(workerPool, [calling], options))[0]!.state).toBe('claimed');
    const r = await cancel(calling);
    expect(r.status).toBe(409);
    expect(r.body.error.message).toBe('a provider call of the message is in progress (status pending): it cannot be canceled');

    expect((await cancel(canceled)).status).toBe(200);
    expect(await claimProviderCalls(workerPool, [canceled], options)).toEqual([expect.objectContaining({ id: canceled, state: 'done' })]);
  });

  it('a provider message whose call ended without an outcome is refused; one whose call was refused before the provider took it is canceled', async () => {
    const lapsed = await accept(message({ channel: 'sms' }));
    const refused = await accept(message({ channel: 'sms' }));
    await storeWaiting();
    // What a worker that died mid-call leaves (a lease past, no outcome), and what a refused call's outcome leaves (the lease cleared).
    await app.pool.query(
      "UPDATE messages SET provider_call_to = 'twilio', provider_call_until = now() - interval '1 minute' WHERE id = $1",
      [lapsed],
    );
    await app.pool.query("UPDATE messages SET provider_call_to = 'twilio', provider_call_until = NULL WHERE id = $1", [refused]);
    const r = await cancel(lapsed);
    expect(r.status).toBe(409);
    expect(r.body.error.message).toBe(
      'a provider was already called for the message and may have it (status pending): it cannot be canceled',
    );
    expect((await cancel(refused)).status).toBe(200);
    expect((await row(refused))?.status).toBe('canceled');
  });

  it('reaches the tenant’s status webhook as canceled, canceled while queued or once stored', async () => {
    const hooked = await createTenant(app.pool, { name: 'hooked', tier: 'enterprise' });
    await setTenantWebhook(app.pool, hooked.tenant.id, 'https://hooks.example.com/esh3ar');
    const queued = await accept(message(), hooked.apiKey);
    expect((await cancel(queued, hooked.apiKey)).status).toBe(200);
    const stored = await accept(message(), hooked.apiKey);
    await storeWaiting();
    expect((await cancel(stored, hooked.apiKey)).status).toBe(200);
    const { rows } = await app.pool.query<{ message_id: string; status: string }>(
      'SELECT message_id, status FROM webhook_outbox WHERE tenant_id = $1 ORDER BY id',
      [hooked.tenant.id],
    );
    expect(rows).toEqual([
      { message_id: queued, status: 'canceled' },
      { message_id: stored, status: 'canceled' },
    ]);
  });

  it('tells the gateway holding the phone of a canceled app message, and no gateway of an sms one', async () => {
    const phone = '+966507654321';
    await asGatewayOf(app, redisUrl, prefix, phone, async (notices, next) => {
      const sms = await accept(message({ recipient: phone, channel: 'sms' }));
      const appMessage = await accept(message({ recipient: phone }));
      await storeWaiting();
      expect((await cancel(sms)).status).toBe(200);
      const received = next();
      expect((await cancel(appMessage)).status).toBe(200);
      await received;
      expect(notices.map((n) => JSON.parse(n))).toEqual([{ canceled: [{ id: appMessage, recipient: phone }] }]);
    });
  });
});

describe('a message id in upper case', () => {
  it('is the same message to GET and DELETE, queued or stored, and the gateway is told its id as the api wrote it', async () => {
    // UUIDs are case-insensitive; the buffer and the gateways compare ids as strings. Before,
    // a queued message was 404 to its upper-case id, which then went out all the same.
    const queued = await accept(message({ sendAt: inAnHour() }));
    expect((await send(key, 'GET', `/v1/messages/${queued.toUpperCase()}`)).body).toMatchObject({ id: queued, status: 'queued' });
    const canceledQueued = await cancel(queued.toUpperCase());
    expect(canceledQueued.status).toBe(200);
    expect(canceledQueued.body).toMatchObject({ id: queued, status: 'canceled' });

    const phone = '+966507654322';
    await asGatewayOf(app, redisUrl, prefix, phone, async (notices, next) => {
      const stored = await accept(message({ recipient: phone }));
      await storeWaiting();
      const received = next();
      expect((await cancel(stored.toUpperCase())).body).toMatchObject({ id: stored, status: 'canceled' });
      await received;
      expect(notices.map((n) => JSON.parse(n))).toEqual([{ canceled: [{ id: stored, recipient: phone }] }]);
    });
  });
});

describe('cancel against the worker storing the same messages', () => {
  /*
   * A queued message's cancel inserts its row as canceled while the worker's COPY merge
   * inserts it as pending; the primary key orders the two. Whichever wins, the cancel that
   * answered 200 left the row canceled, and a row the worker did not insert is in
   * StoreResult.settled, so it is not dispatched.
   */
  it('200 messages, each canceled while the worker stores them: every one ends canceled, the worker dispatches only what it inserted', async () => {
    const racing = await createTenant(app.pool, { name: 'racing', tier: 'enterprise' });
    const rounds = 4;
    let apiFirst = 0;
    let workerFirst = 0;
    for (let round = 0; round < rounds; round++) {
      const batch = Array.from({ length: 50 }, (_, i) => message({ content: `race ${round}/${i}` }));
      const accepted = await send(racing.apiKey, 'POST', '/v1/messages/batch', { messages: batch });
      expect(accepted.body.accepted).toBe(50);
      const ids: string[] = accepted.body.results.map((r: { id: string }) => r.id);
      const { rows, done } = await waitingRows();
      expect(rows).toHaveLength(50);
      // The worker starts once a share of the cancels has answered, the others still in
      // flight: a larger share each round, none in the first.
      const head = Math.floor((ids.length * round) / rounds);
      let answered = 0;
      let startStoring = () => {};
      const go = new Promise<void>((resolve) => (startStoring = resolve));
      if (head === 0) startStoring();
      const cancels = Promise.all(
        ids.map((id) =>
          cancel(id, racing.apiKey).then((answer) => {
            if (++answered === head) startStoring();
            return answer;
          }),
        ),
      );
      const stored = go.then(async () => {
        const result = await storeBatch(workerPool, rows);
        await done();
        return result;
      });
      const [result, answers] = await Promise.all([stored, cancels]);

      expect(answers.map((a) => a.status)).toEqual(ids.map(() => 200));
      const { rows: after } = await app.pool.query<{ id: string; status: string; detail: string }>(
        `SELECT m.id, m.status, e.detail FROM messages m JOIN message_events e ON e.message_id = m.id AND e.status = 'canceled'
         WHERE m.id = ANY($1::uuid[])`,
        [ids],
      );
      expect(after).toHaveLength(ids.length);
      expect(after.every((r) => r.status === 'canceled')).toBe(true);
      const insertedByApi = after.filter((r) => r.detail === 'canceled by the sender while queued').map((r) => r.id);
      expect(result.settled.toSorted()).toEqual(insertedByApi.toSorted());
      expect(result.inserted + result.duplicates).toBe(ids.length);
      expect(result.duplicates).toBe(insertedByApi.length);
      apiFirst += insertedByApi.length;
      workerFirst += ids.length - insertedByApi.length;
    }
    // Both orders happened: the race was run, not one side of it.
    expect(apiFirst).toBeGreaterThan(0);
    expect(workerFirst).toBeGreaterThan(0);
  });
});
