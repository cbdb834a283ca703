import { checkServerFrame, sampleBufferedMessage, type DeliveryItem } from '@esh3ar/contracts';
import { createPool, createTenant, storeBatch } from '@esh3ar/db';
import { createDatabase, deletePrefix, uniquePrefix, uuidv7, type ThrowawayDatabase } from '@esh3ar/stack';
import { createSigner } from 'fast-jwt';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection } from './device-hub.ts';
import { heartbeatFrame } from './frames.ts';
import { connectClient, startTestGateway, type TestClient, type TestGateway } from './gateway.test-kit.ts';

// The frames that tell a device how things stand rather than carry a message: the
// "replayed" frame after the first replay, and the heartbeat with each ping. A gateway
// in this process, against a database and a Redis prefix of this file's own.
const SECRET = 'server-frames-test-secret-0123456789abcdef';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const sign = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 3_600_000 });
let db: ThrowawayDatabase;
let writes: pg.Pool;
let prefix: string;
let tenantId: string;
let gateway: TestGateway;
const clients: TestClient[] = [];
let phoneSeq = 0;

const newPhone = () => `+96657${String(1_000_000 + phoneSeq++)}`;

/** Stores app messages as pending, as a worker does when their phone is offline; their ids in replay order. */
async function storePending(phone: string, count: number): Promise<string[]> {
  const rows = Array.from({ length: count }, (_, i) => ({
    message: sampleBufferedMessage({ id: uuidv7(), tenantId, recipient: phone, content: `stored ${i}` }),
    state: { status: 'pending' as const, failureReason: null },
  }));
  await storeBatch(writes, rows);
  return rows.map((r) => r.message.id);
}

/** A message a worker routes here live (not stored: the replay cannot find it). */
const liveItem = (phone: string): DeliveryItem => ({
  id: uuidv7(),
  tenantId,
  recipient: phone,
  subject: null,
  content: 'live',
  priority: 'normal',
  createdAt: new Date().toISOString(),
  metadata: null,
  expiresAt: null,
});

async function connect(phone: string): Promise<{ client: TestClient; connection: Connection }> {
  const client = await connectClient(gateway.streamUrl, sign({ sub: phone }));
  clients.push(client);
  // Attached before the 101 went out, so before the client saw it open.
  const connection = gateway.hub.connections().find((c) => c.phone === phone)!;
  return { client, connection };
}

/** "message:<id>" for message frames, the type for the others. */
const shapes = (client: TestClient) => client.frames.map((f) => (f.type === 'message' ? `message:${f.id}` : f.type));

/**
 * Replays to the connection again (as after a presence lapse) and routes it a live
 * message, which the socket delivers after anything that replay sent: once it is in,
 * a second "replayed" frame would have arrived.
 */
async function replayAgainThenLive(client: TestClient, connection: Connection, phone: string): Promise<string> {
  if (gateway.hub.holdForReplay(connection)) await gateway.hub.replay(connection);
  const live = liveItem(phone);
  gateway.hub.deliver([live]);
  await client.waitFor((frames) => frames.some((f) => f.id === live.id));
  return live.id;
}

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'gateway-server-frames');
  prefix = uniquePrefix('gateway-server-frames');
  writes = createPool(db.url, { max: 2, applicationName: 'esh3ar-test-gateway-server-frames' });
  ({
    tenant: { id: tenantId },
  } = await createTenant(writes, { name: 'server frames', tier: 'enterprise', rpm: null, burst: null }));
  gateway = await startTestGateway({
    DATABASE_URL: db.url,
    REDIS_URL,
    REDIS_PREFIX: prefix,
    DEVICE_TOKEN_SECRET: SECRET,
    GATEWAY_PG_POOL_MAX: '2',
  });
});
afterAll(async () => {
  for (const c of clients) c.socket.terminate();
  await gateway?.close();
  await writes?.end();
  if (prefix) await deletePrefix(REDIS_URL, prefix);
  await db?.drop();
});

describe('the "replayed" frame', () => {
  it('is the first frame when there was nothing to replay, and comes once', async () => {
    const phone = newPhone();
    const { client, connection } = await connect(phone);
    await client.waitFor((frames) => frames.length >= 1);
    const live = await replayAgainThenLive(client, connection, phone);
    expect(shapes(client)).toEqual(['replayed', `message:${live}`]);
    for (const frame of client.frames) expect(checkServerFrame.Check(frame), JSON.stringify(frame)).toBe(true);
  });

  it('follows the replayed messages and precedes the live ones held behind the replay', async () => {
    const phone = newPhone();
    const stored = await storePending(phone, 3);
    // The replay's query waits for this lock, so the live message is routed while the
    // replay runs: it is held behind it, whatever the timing.
    const locker = await writes.connect();
    const live = liveItem(phone);
    let client: TestClient;
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE');
      const connected = await connect(phone);
      client = connected.client;
      expect(connected.connection.replaying).toBe(true);
      gateway.hub.deliver([live]);
      await locker.query('COMMIT');
    } finally {
      locker.release();
    }
    await client.waitFor((frames) => frames.length >= 5);
    const again = await replayAgainThenLive(
      client,
      gateway.hub.connections().find((c) => c.phone === phone)!,
      phone,
    );
    expect(shapes(client)).toEqual([...stored.map((id) => `message:${id}`), 'replayed', `message:${live.id}`, `message:${again}`]);
    for (const frame of client.frames) expect(checkServerFrame.Check(frame), JSON.stringify(frame)).toBe(true);
  });

  it('comes once, after the replay that succeeded, when the first replay failed', async () => {
    const phone = newPhone();
    const stored = await storePending(phone, 2);
    // PostgreSQL failing the replay's query, as it does while it is down: the gateway
    // keeps the connection and tries the replay again every second (REPLAY_RETRY_MS).
    await writes.query('ALTER TABLE messages RENAME TO messages_away');
    let client: TestClient;
    let connection: Connection;
    try {
      const failed = gateway.logLine((l) => typeof l.msg === 'string' && l.msg.startsWith('replay failed'));
      ({ client, connection } = await connect(phone));
      await failed;
      expect(client.frames).toEqual([]);
    } finally {
      await writes.query('ALTER TABLE messages_away RENAME TO messages');
    }
    await client.waitFor((frames) => frames.length >= 3);
    const live = await replayAgainThenLive(client, connection, phone);
    expect(shapes(client)).toEqual([...stored.map((id) => `message:${id}`), 'replayed', `message:${live}`]);
  });
});

describe('the heartbeat frame', () => {
  it('goes with each ping, with the ping interval, while the connection answers', async () => {
    const phone = newPhone();
    const { client, connection } = await connect(phone);
    await client.waitFor((frames) => frames.length >= 1);
    gateway.hub.ping(connection, heartbeatFrame(30_000));
    await client.waitFor((frames) => frames.length >= 2);
    expect(client.frames.at(-1)).toEqual({ type: 'heartbeat', intervalMs: 30_000 });
    expect(checkServerFrame.Check(client.frames.at(-1))).toBe(true);
  });
});
