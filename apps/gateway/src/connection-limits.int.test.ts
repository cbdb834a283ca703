import { once } from 'node:events';
import { sampleBufferedMessage } from '@esh3ar/contracts';
import { createPool, createTenant, storeBatch } from '@esh3ar/db';
import { createDatabase, deletePrefix, uniquePrefix, uuidv7, type ThrowawayDatabase } from '@esh3ar/stack';
import { createSigner } from 'fast-jwt';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { connectClient, refusal, startTestGateway, type TestClient, type TestGateway } from './gateway.test-kit.ts';

// Gateways in this process with small limits, against a database and a Redis prefix of
// this file's own: what a client that opens too many connections, sends garbage, or
// does not read costs the gateway.
const SECRET = 'connection-limits-test-secret-0123456789';
const sign = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 3_600_000 });
let db: ThrowawayDatabase;
let writes: pg.Pool;
let prefix: string;
let tenantId: string;
const gateways: TestGateway[] = [];
const clients: TestClient[] = [];
let phoneSeq = 0;

const newPhone = () => `+96658${String(1_000_000 + phoneSeq++)}`;

/** Stores app messages as pending, as a worker does when their phone is offline; their ids in replay order. */
async function storePending(tenantId: string, phone: string, count: number, content = (i: number) => `message ${i}`): Promise<string[]> {
  const rows = Array.from({ length: count }, (_, i) => ({
    message: sampleBufferedMessage({ id: uuidv7(), tenantId, recipient: phone, content: content(i) }),
    state: { status: 'pending' as const, failureReason: null },
  }));
  await storeBatch(writes, rows);
  return rows.map((r) => r.message.id);
}

async function gateway(env: Record<string, string>): Promise<TestGateway> {
  const g = await startTestGateway({
    DATABASE_URL: db.url,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: prefix,
    DEVICE_TOKEN_SECRET: SECRET,
    GATEWAY_PG_POOL_MAX: '2',
    ...env,
  });
  gateways.push(g);
  return g;
}

async function connect(g: TestGateway, phone: string): Promise<TestClient> {
  const client = await connectClient(g.streamUrl, sign({ sub: phone }));
  clients.push(client);
  return client;
}

/** Closes a client and waits until the gateway has let its connection go. */
async function disconnect(g: TestGateway, client: TestClient, phone: string): Promise<void> {
  const before = new Set(g.hub.connections().filter((c) => c.phone === phone));
  const gone = Promise.race([...before].map((c) => once(c.socket, 'close')));
  client.socket.close();
  await gone;
}

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'gateway-limits');
  prefix = uniquePrefix('gateway-limits');
  writes = createPool(db.url, { max: 2, applicationName: 'esh3ar-test-gateway-limits' });
  ({
    tenant: { id: tenantId },
  } = await createTenant(writes, { name: 'limits', tier: 'enterprise', rpm: null, burst: null }));
});
afterAll(async () => {
  for (const c of clients) c.socket.terminate();
  await Promise.allSettled(gateways.map((g) => g.close()));
  await writes?.end();
  if (prefix) await deletePrefix(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix);
  await db?.drop();
});

describe('connection caps', () => {
  it('refuses the upgrade past GATEWAY_MAX_CONNECTIONS_PER_PHONE with 429 until one closes, and past GATEWAY_MAX_CONNECTIONS with 503 and Retry-After', async () => {
    const g = await gateway({ GATEWAY_MAX_CONNECTIONS: '3', GATEWAY_MAX_CONNECTIONS_PER_PHONE: '2' });
    const phone = newPhone();
    const first = await connect(g, phone);
    await connect(g, phone);

    // A third device of the phone (a client reconnecting in a loop, say): no socket opens.
    const third = await refusal(g.streamUrl, sign({ sub: phone }));
    expect(third.status).toBe(429);
    expect(third.headers['retry-after']).toBe('30'); // one ping interval: a half-open connection is dropped by then
    expect(g.hub.phoneConnectionCount(phone, null)).toBe(2);
    expect(await g.metric('esh3ar_gateway_upgrades_refused_total', { reason: 'phone_connections' })).toBe(1);
    // Another phone is not held back by it.
    await connect(g, newPhone());

    // The gateway is full (3): any upgrade, even a bad token's, is refused before its token is checked.
    for (const token of [sign({ sub: newPhone() }), 'garbage']) {
      const full = await refusal(g.streamUrl, token);
      expect(full.status).toBe(503);
      expect(full.headers['retry-after']).toBe('5');
    }
    expect(await g.metric('esh3ar_gateway_upgrades_refused_total', { reason: 'gateway_connections' })).toBe(2);
    expect(await g.metric('esh3ar_gateway_upgrades_refused_total', { reason: 'token' })).toBe(0);

    // Once one of the phone's connections closes, the phone (and the gateway) takes one more.
    await disconnect(g, first, phone);
    await connect(g, phone);
    expect(g.hub.connectionCount).toBe(3);
  });
});

describe('bad frames', () => {
  it('answers GATEWAY_MAX_BAD_FRAMES bad frames in 10 s with error frames, then closes with 1008 and reads nothing more into work', async () => {
    const g = await gateway({ GATEWAY_MAX_BAD_FRAMES: '5' });
    const hostile = await connect(g, newPhone());
    const honest = await connect(g, newPhone());
    // Garbage of every kind, as fast as the client can send it.
    const garbage = [
      'not json',
      JSON.stringify({ type: 'subscribe' }),
      JSON.stringify({ type: 'ack' }),
      JSON.stringify({ type: 'ack', ids: [] }),
    ];
    for (let i = 0; i < 200; i++) hostile.socket.send(garbage[i % garbage.length]!);
    expect(await hostile.closed).toEqual({ code: 1008, reason: 'more than 5 bad frames in 10 s' });
    expect(hostile.frames.filter((f) => f.type === 'error').map((f) => f.code)).toEqual([
      'INVALID_FRAME',
      'UNKNOWN_TYPE',
      'INVALID_ACK',
      'INVALID_ACK',
      'INVALID_FRAME',
    ]);
    expect(await g.metric('esh3ar_gateway_bad_frame_closes_total')).toBe(1);
    // Frames read after the close began were dropped unparsed: 6 were looked at, not 200.
    expect(await g.metric('esh3ar_gateway_frame_errors_total')).toBe(6);
    // Late acks of an honest device (UNKNOWN_MESSAGE) within the budget keep its connection.
    honest.ack(['01937a6e-0000-7000-8000-000000000000']);
    await honest.waitFor((frames) => frames.some((f) => f.code === 'UNKNOWN_MESSAGE'));
    expect(honest.socket.readyState).toBe(WebSocket.OPEN);
  });
});

describe('slow readers', () => {
  // 4,000-character messages: 3,000 of them (~12 MB) are more than the kernel's buffers
  // on the loopback take (~4 MB measured) for a client that reads nothing, so that the
  // gateway's own buffer passes GATEWAY_SLOW_READER_BYTES (64 KiB here).
  const COUNT = 3000;
  const big = (i: number) => `${i} `.padEnd(4000, 'x');

  it('stops pushing to a device that does not read; what it was not pushed stays pending and is pushed, each once and in order, when its socket drains', async () => {
    const g = await gateway({ GATEWAY_SLOW_READER_BYTES: '65536' });
    const phone = newPhone();
    const stored = await storePending(tenantId, phone, COUNT, big);
    const slowed = g.logLine((l) => l.msg === 'device not reading its pushes: none until its socket drains');
    const device = await connect(g, phone);
    device.raw.pause(); // a real client that stops reading: its TCP window closes, the gateway's writes pile up
    await slowed;

    const [connection] = g.hub.connections().filter((c) => c.phone === phone);
    expect(g.hub.isSlow(connection!)).toBe(true);
    // Over the threshold by at most one frame.
    expect(connection!.socket.bufferedAmount).toBeLessThan(65_536 + 4200);
    const pushed = await g.metric('esh3ar_gateway_pushes_total');
    expect(pushed).toBeLessThan(COUNT);
    await g.status.flush();
    const { rows } = await writes.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM messages WHERE recipient = $1 GROUP BY status ORDER BY status`,
      [phone],
    );
    expect(rows).toEqual([
      { status: 'pending', n: COUNT - pushed },
      { status: 'sent', n: pushed },
    ]);
    expect(await g.metric('esh3ar_gateway_slow_readers')).toBe(1);

    device.raw.resume();
    await device.received(COUNT);
    expect(device.ids).toEqual(stored);
    expect(await g.metric('esh3ar_gateway_slow_reader_pauses_total')).toBeGreaterThanOrEqual(1);
    expect(await g.metric('esh3ar_gateway_slow_reader_closes_total')).toBe(0);
    expect(device.socket.readyState).toBe(WebSocket.OPEN);
  });

  it('closes a device that has not drained within GATEWAY_SLOW_READER_CLOSE_MS with 1013; it gets the rest where it reconnects', async () => {
    const g = await gateway({ GATEWAY_SLOW_READER_BYTES: '65536', GATEWAY_SLOW_READER_CLOSE_MS: '300' });
    const other = await gateway({ GATEWAY_SLOW_READER_BYTES: '65536' });
    const phone = newPhone();
    const stored = await storePending(tenantId, phone, COUNT, big);
    const closing = g.logLine(
      (l) => typeof l.msg === 'string' && l.msg.startsWith('closing a device that did not read its pushes in time'),
    );
    const device = await connect(g, phone);
    device.raw.pause();
    await closing;
    expect(await g.metric('esh3ar_gateway_slow_reader_closes_total')).toBe(1);

    // The close frame waits behind what the device has not read: it sees it once it reads again.
    device.raw.resume();
    expect((await device.closed).code).toBe(1013);
    const got = device.ids.length;
    expect(got).toBeLessThan(COUNT);
    expect(device.ids).toEqual(stored.slice(0, got));

    const again = await connect(other, phone);
    await again.received(COUNT);
    expect(again.ids).toEqual(stored);
  });
});
