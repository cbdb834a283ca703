import { sampleBufferedMessage, type DeliveryItem } from '@esh3ar/contracts';
import { createPool, createTenant, storeBatch } from '@esh3ar/db';
import { announceCanceled, beatGateway, gatewayChannel } from '@esh3ar/queue/presence';
import { createDatabase, deletePrefix, uniquePrefix, uuidv7, type ThrowawayDatabase } from '@esh3ar/stack';
import { createSigner } from 'fast-jwt';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, startTestGateway, type TestClient, type TestGateway } from './gateway.test-kit.ts';

// The gateway's last check for app messages their sender canceled: the api's cancel
// notice on the gateway's channel (announceCanceled), then what a worker, a replay or the
// re-push check would still push. A gateway in this process, with a real device socket,
// against a database and a Redis prefix of this file's own; deliveries are published raw
// on the gateway's channel, as a worker does.
const SECRET = 'cancel-notices-test-secret-0123456789abcdef';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const sign = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 3_600_000 });
/** Re-pushes come due only when a test lowers this (the gateway reads it at every tick). */
const NEVER_MS = 3_600_000;
let ackTimeoutMs = NEVER_MS;
let db: ThrowawayDatabase;
let writes: pg.Pool;
let redis: Redis;
let prefix: string;
let tenantId: string;
let gateway: TestGateway;
const clients: TestClient[] = [];
let phoneSeq = 0;

const newPhone = () => `+96658${String(1_000_000 + phoneSeq++)}`;

const item = (phone: string, content = 'live'): DeliveryItem => ({
  id: uuidv7(),
  tenantId,
  recipient: phone,
  subject: null,
  content,
  priority: 'normal',
  createdAt: new Date().toISOString(),
  metadata: null,
  expiresAt: null,
});

/** As a worker routes messages: one PUBLISH of an array; the gateway is its only subscriber. */
async function publish(payload: DeliveryItem[] | string): Promise<void> {
  const receivers = await redis.publish(
    gatewayChannel(prefix, gateway.gatewayId),
    typeof payload === 'string' ? payload : JSON.stringify(payload),
  );
  expect(receivers).toBe(1);
}

/** A device of the phone, past its first replay; its presence is registered by then. */
async function connect(phone: string): Promise<TestClient> {
  const client = await connectClient(gateway.streamUrl, sign({ sub: phone }));
  clients.push(client);
  await client.waitFor((frames) => frames.some((f) => f.type === 'replayed'));
  return client;
}

const count = (client: TestClient, id: string) => client.ids.filter((x) => x === id).length;

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'gateway-cancel-notices');
  prefix = uniquePrefix('gateway-cancel-notices');
  writes = createPool(db.url, { max: 2, applicationName: 'esh3ar-test-gateway-cancel-notices' });
  redis = new Redis(REDIS_URL);
  ({
    tenant: { id: tenantId },
  } = await createTenant(writes, { name: 'cancel notices', tier: 'enterprise', rpm: null, burst: null }));
  gateway = await startTestGateway(
    { DATABASE_URL: db.url, REDIS_URL, REDIS_PREFIX: prefix, DEVICE_TOKEN_SECRET: SECRET, GATEWAY_PG_POOL_MAX: '2' },
    { ackTimeoutMs: () => ackTimeoutMs },
  );
  await gateway.subscribed;
  // The kit's gateway does not beat: alive, announceCanceled finds it where its devices are.
  await beatGateway(redis, prefix, gateway.gatewayId, NEVER_MS);
});
afterEach(() => {
  ackTimeoutMs = NEVER_MS;
  for (const c of clients.splice(0)) c.socket.terminate();
});
afterAll(async () => {
  await gateway?.close();
  await writes?.end();
  redis?.disconnect();
  if (prefix) await deletePrefix(REDIS_URL, prefix);
  await db?.drop();
});

describe('a canceled app message', () => {
  it('is not pushed when its delivery comes after the cancel notice; the next message is', async () => {
    const phone = newPhone();
    const client = await connect(phone);
    const [canceled, next] = [item(phone, 'canceled'), item(phone, 'next')];
    const skipped = await gateway.metric('esh3ar_gateway_pushes_skipped_total', { reason: 'canceled' });
    await announceCanceled(redis, prefix, [{ id: canceled.id, recipient: phone }]);
    // The worker was publishing it as the cancel happened: Redis took the notice first.
    await publish([canceled]);
    await publish([next]);
    await client.waitFor(() => count(client, next.id) === 1);
    expect(client.ids).toEqual([next.id]);
    expect(await gateway.metric('esh3ar_gateway_pushes_skipped_total', { reason: 'canceled' })).toBe(skipped + 1);
  });

  it('pushed and not acknowledged, is forgotten on the notice: not pushed again when the ack timeout passes', async () => {
    const phone = newPhone();
    const client = await connect(phone);
    const [canceled, next] = [item(phone, 'canceled'), item(phone, 'next')];
    await publish([canceled]);
    await client.waitFor(() => count(client, canceled.id) === 1);
    await announceCanceled(redis, prefix, [{ id: canceled.id, recipient: phone }]);
    // Neither is stored: the re-push check finds neither settled in PostgreSQL, so only
    // the notice keeps the canceled one from coming again. `next` follows the notice on
    // the channel: once it is in, so is the notice.
    await publish([next]);
    await client.waitFor(() => count(client, next.id) === 1);
    ackTimeoutMs = 100;
    await client.waitFor(() => count(client, next.id) === 2);
    expect(client.ids.slice(0, 3)).toEqual([canceled.id, next.id, next.id]);
    expect(count(client, canceled.id)).toBe(1);
  });

  it('pushed before its row was canceled: stays canceled, is not pushed again, and its late ack is no error', async () => {
    const phone = newPhone();
    const client = await connect(phone);
    const message = sampleBufferedMessage({ id: uuidv7(), tenantId, recipient: phone, content: 'canceled after its push' });
    await storeBatch(writes, [{ message, state: { status: 'pending', failureReason: null } }]);
    const canceled = { ...item(phone), id: message.id, content: message.content, createdAt: message.acceptedAt };
    const next = item(phone, 'next');
    const acksBefore = await gateway.metric('esh3ar_gateway_acks_total', { result: 'canceled' });
    // The api's cancel takes the row before the gateway's `sent` is written (its status
    // writer flushes every GATEWAY_ACK_FLUSH_MS): that write waits for this lock and then
    // finds the row canceled.
    const locker = await writes.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM messages WHERE id = $1 FOR UPDATE', [message.id]);
      await publish([canceled]);
      await client.waitFor(() => count(client, canceled.id) === 1);
      await locker.query(`UPDATE messages SET status = 'canceled', updated_at = now() WHERE id = $1`, [message.id]);
      await locker.query('COMMIT');
    } finally {
      locker.release();
    }
    await announceCanceled(redis, prefix, [{ id: message.id, recipient: phone }]);
    await publish([next]);
    await client.waitFor(() => count(client, next.id) === 1);

    // The device handled it before the cancel reached the gateway, and acknowledges it.
    // An unknown id acked after it is answered with an error: that error is the only one.
    const unknown = uuidv7();
    client.ack([message.id]);
    client.ack([unknown]);
    await client.waitFor((frames) => frames.some((f) => f.type === 'error'));
    const errors = client.frames.filter((f) => f.type === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toContain(unknown);
    expect(await gateway.metric('esh3ar_gateway_acks_total', { result: 'canceled' })).toBe(acksBefore + 1);

    ackTimeoutMs = 100;
    await client.waitFor(() => count(client, next.id) === 2);
    expect(count(client, canceled.id)).toBe(1);
    // Its `sent` mark, written once the lock went, matched no row: no failed write left to retry, no `sent` event.
    await gateway.status.flush();
    expect(gateway.status.pending).toBe(0);
    const row = await writes.query<{ status: string }>('SELECT status FROM messages WHERE id = $1', [message.id]);
    expect(row.rows[0]!.status).toBe('canceled');
    const events = await writes.query<{ status: string }>('SELECT status FROM message_events WHERE message_id = $1', [message.id]);
    expect(events.rows.map((e) => e.status)).not.toContain('sent');
  });
});

describe('the deliveries channel', () => {
  it('logs and ignores what it cannot read, and delivers what follows', async () => {
    const phone = newPhone();
    const client = await connect(phone);
    const garbage = ['not json', 'null', '7', '{}', '{"canceled":"x"}', '{"canceled":[{"id":1}]}', '[1]', '[{"id":"x"}]'];
    let unreadable = 0;
    const logged = gateway.logLine(
      (l) => l.msg === 'unreadable message on the deliveries channel; ignored' && ++unreadable === garbage.length,
    );
    for (const payload of garbage) await publish(payload);
    const next = item(phone, 'after the garbage');
    await publish([next]);
    await logged;
    await client.waitFor(() => count(client, next.id) === 1);
    expect(client.ids).toEqual([next.id]);
    expect(client.frames.filter((f) => f.type === 'error')).toEqual([]);
  });
});
