import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { sampleBufferedMessage, type DeliveryItem } from '@esh3ar/contracts';
import { createPool, createTenant, storeBatch } from '@esh3ar/db';
import { createGatewayMetrics, createLogger, createRegistry } from '@esh3ar/observability';
import { createDatabase, uuidv7, type ThrowawayDatabase } from '@esh3ar/stack';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { DeviceHub, type Connection } from './device-hub.ts';
import { StatusWriter } from './status-writer.ts';

// The hub in this process, against a real database of this file's own and real
// WebSocket pairs: what a presence lapse asks of it (hold live messages, replay again).
let db: ThrowawayDatabase;
let pool: pg.Pool;
let writes: pg.Pool;
let hub: DeviceHub;
let status: StatusWriter;
let tenantId: string;
let wss: WebSocketServer;
const clients: WebSocket[] = [];
let phoneSeq = 0;

/** Stores an app message as pending, as a worker does when its phone counts as offline. */
async function storePending(phone: string, content: string): Promise<string> {
  const message = sampleBufferedMessage({ id: uuidv7(), tenantId, recipient: phone, content });
  await storeBatch(writes, [{ message, state: { status: 'pending', failureReason: null } }]);
  return message.id;
}

const liveItem = (phone: string, content: string): DeliveryItem => ({
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

/** A device connection: the hub's server side, and the frames its client received. */
async function connect(): Promise<{
  phone: string;
  connection: Connection;
  /** The server side's TCP socket, which ws writes to. */
  tcp: Duplex;
  frames: { id: string }[];
  waitFor: (n: number) => Promise<void>;
}> {
  const phone = `+96650${String(1_000_000 + phoneSeq++)}`;
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
  clients.push(client);
  const frames: { id: string }[] = [];
  const waiters: (() => void)[] = [];
  client.on('message', (data) => {
    // Message frames only: the "replayed" frame that ends the first replay is replay-finished.int.test.ts's.
    const frame = JSON.parse((data as Buffer).toString('utf8')) as { type: string; id: string };
    if (frame.type !== 'message') return;
    frames.push(frame);
    for (const wake of waiters.splice(0)) wake();
  });
  const [[server, request]] = (await Promise.all([once(wss, 'connection'), once(client, 'open')])) as [
    [WebSocket, IncomingMessage],
    unknown,
  ];
  // The socket ws upgraded, as device-stream.ts hands it to the hub.
  const tcp = request.socket;
  const connection = hub.attach(phone, server, null, tcp);
  await hub.replay(connection);
  const waitFor = async (n: number) => {
    while (frames.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return { phone, connection, tcp, frames, waitFor };
}

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'device-hub');
  // The hub reads through one connection, which the test can take to put its own write
  // between two of the hub's reads; the test writes (and the status writer) through another pool.
  pool = createPool(db.url, { max: 1, applicationName: 'esh3ar-test-device-hub' });
  writes = createPool(db.url, { max: 2, applicationName: 'esh3ar-test-device-hub-writes' });
  ({
    tenant: { id: tenantId },
  } = await createTenant(writes, { name: 'device hub', tier: 'enterprise', rpm: null, burst: null }));
  const logger = createLogger('gateway', 'silent');
  const metrics = createGatewayMetrics(createRegistry('gateway'));
  status = new StatusWriter(writes, logger, metrics, 'test-gateway', { flushMs: 50, maxPending: 200_000 });
  hub = new DeviceHub({
    pool,
    status,
    metrics,
    logger,
    ackTimeoutMs: () => 60_000,
    replayPageSize: 500,
    replaysAtOnce: 4,
    slowReaders: { maxBufferedBytes: 1_048_576, closeAfterMs: 30_000 },
  });
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
});
afterAll(async () => {
  for (const c of clients) c.terminate();
  await new Promise((resolve) => wss?.close(resolve));
  hub?.close();
  await status?.close();
  await pool?.end();
  await writes?.end();
  await db?.drop();
});

describe('replaying again to an open connection (after a presence lapse)', () => {
  it('holds live messages behind the replay, so a message stored meanwhile arrives before a newer live one', async () => {
    const device = await connect();
    const stored = await storePending(device.phone, 'stored while the gateway counted as gone');
    expect(hub.holdForReplay(device.connection)).toBe(true);
    const live = liveItem(device.phone, 'routed live after the re-add');
    hub.deliver([live]);
    expect(device.frames).toEqual([]); // held
    await hub.replay(device.connection);
    await device.waitFor(2);
    expect(device.frames.map((f) => f.id)).toEqual([stored, live.id]);
  });

  it('a hold while a replay runs makes that replay read PostgreSQL once more before it ends', async () => {
    const device = await connect();
    const first = await storePending(device.phone, 'there before the replay');
    // The replay reads; the hold arrives meanwhile.
    expect(hub.holdForReplay(device.connection)).toBe(true);
    const replaying = hub.replay(device.connection);
    expect(hub.holdForReplay(device.connection)).toBe(false);
    // Take the hub's one connection as soon as the replay's first read gives it back
    // (the pool hands it out in order), so that this message is committed after that
    // read and before any second one.
    const held = await pool.connect();
    let later: string;
    try {
      later = await storePending(device.phone, 'stored after the first read');
    } finally {
      held.release();
    }
    await replaying;
    await device.waitFor(2);
    expect(device.frames.map((f) => f.id)).toEqual([first, later]);
  });
});

describe('a delivery batch', () => {
  it("writes one phone's frames of a batch to its socket in one write, in order", async () => {
    const device = await connect();
    const items = Array.from({ length: 50 }, (_, i) => liveItem(device.phone, `message ${i}`));
    // Stream implementers' methods (node:stream): ws's frames reach the socket through them.
    const writes = vi.spyOn(device.tcp as unknown as { _writev: (...args: unknown[]) => void }, '_writev');
    const write = vi.spyOn(device.tcp as unknown as { _write: (...args: unknown[]) => void }, '_write');
    hub.deliver(items);
    await device.waitFor(50);
    expect(device.frames.map((f) => f.id)).toEqual(items.map((i) => i.id));
    expect(writes).toHaveBeenCalledTimes(1);
    expect(write).not.toHaveBeenCalled();
  });

  it('counts no device that reads as slow, however much one batch holds for it', async () => {
    const device = await connect();
    // 1.2 MB for one phone, past the hub's 1 MiB threshold of unread bytes.
    const items = Array.from({ length: 300 }, (_, i) => liveItem(device.phone, `${i} `.padEnd(4000, 'x')));
    hub.deliver(items);
    expect(hub.isSlow(device.connection)).toBe(false);
    await device.waitFor(300);
    expect(device.frames.map((f) => f.id)).toEqual(items.map((i) => i.id));
  });
});
