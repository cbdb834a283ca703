import { EventEmitter, once } from 'node:events';
import { sampleBufferedMessage } from '@esh3ar/contracts';
import { createPool, createTenant, storeBatch } from '@esh3ar/db';
import { createGatewayMetrics, createRegistry } from '@esh3ar/observability';
import { createRedis } from '@esh3ar/queue';
import {
  createDatabase,
  deletePrefix,
  startPrivatePostgres,
  uniquePrefix,
  uuidv7,
  waitFor,
  type PrivatePostgres,
  type ThrowawayDatabase,
} from '@esh3ar/stack';
import { createSigner } from 'fast-jwt';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { parseConfig, type GatewayConfig } from './config.ts';
import { subscribeDeliveries } from './deliveries.ts';
import { DeviceHub } from './device-hub.ts';
import { deviceTokenVerifier } from './device-token.ts';
import { buildGateway } from './server.ts';
import { StatusWriter } from './status-writer.ts';

// The gateway in this process (server, hub, status writer), against a PostgreSQL server
// of this file's own, stopped and started for real, and the shared Redis under a prefix
// of its own. The writer and the tests' own writes use one pool; the hub reads through
// another, so that its replay queries can be counted alone.
const SECRET = 'back-pressure-test-secret-of-32-chars-or-more';
let pgServer: PrivatePostgres;
let db: ThrowawayDatabase;
let config: GatewayConfig;
let readPool: pg.Pool;
let writePool: pg.Pool;
let redis: Redis;
let subscriber: Redis;
let status: StatusWriter;
let hub: DeviceHub;
let app: FastifyInstance;
let url: string;
let tenantId: string;
/** mark-delivered statements PostgreSQL took (each is one chunk of acks). */
let ackWrites = 0;
const logs = new EventEmitter<{ line: [Record<string, unknown>] }>();
const devices: Device[] = [];
let phoneSeq = 0;

const newPhone = () => `+96655${String(1_000_000 + phoneSeq++)}`;
const sign = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 3_600_000 });

/** Resolves with the first log line of the gateway that `predicate` accepts from now on. */
function logLine(predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const listener = (line: Record<string, unknown>) => {
      if (!predicate(line)) return;
      logs.off('line', listener);
      resolve(line);
    };
    logs.on('line', listener);
  });
}

interface Device {
  socket: WebSocket;
  /** Ids of the message frames received, in order. */
  ids: string[];
  errors: unknown[];
  received(n: number): Promise<void>;
  ack(ids: readonly string[]): void;
}

/** A device connection over the real upgrade path; frames are counted, not kept (300,000 of them). */
async function openDevice(phone: string): Promise<Device> {
  const socket = new WebSocket(`${url}/v1/stream?access_token=${sign({ sub: phone })}`);
  const ids: string[] = [];
  const errors: unknown[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  socket.on('message', (data) => {
    const frame = JSON.parse((data as Buffer).toString('utf8')) as { type: string; id?: string };
    if (frame.type === 'message') ids.push(frame.id!);
    else if (frame.type === 'error') errors.push(frame);
    if (waiter && ids.length >= waiter.n) {
      waiter.resolve();
      waiter = undefined;
    }
  });
  await once(socket, 'open');
  const device: Device = {
    socket,
    ids,
    errors,
    received: (n) => (ids.length >= n ? Promise.resolve() : new Promise((resolve) => (waiter = { n, resolve }))),
    ack: (batch) => socket.send(JSON.stringify({ type: 'ack', ids: batch })),
  };
  devices.push(device);
  return device;
}

/** Stores app messages as pending, as a worker does when their phone is offline. */
async function storePending(phone: string, count: number): Promise<string[]> {
  const rows = Array.from({ length: count }, (_, i) => ({
    message: sampleBufferedMessage({ id: uuidv7(), tenantId, recipient: phone, content: `message ${i}` }),
    state: { status: 'pending' as const, failureReason: null },
  }));
  await storeBatch(writePool, rows);
  return rows.map((r) => r.message.id);
}

async function deliveredCount(ids: readonly string[]): Promise<number> {
  const { rows } = await writePool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[]) AND status = 'delivered'`,
    [ids],
  );
  return rows[0]!.n;
}

const ready = async () =>
  (await app.inject({ method: 'GET', url: '/health/ready' })).json<{ status: string; checks: Record<string, unknown> }>();

beforeAll(async () => {
  pgServer = await startPrivatePostgres();
  db = await createDatabase(pgServer.url, 'gateway-back-pressure');
  const prefix = uniquePrefix('gateway-back-pressure');
  // The defaults under test (cap 200,000, 4 replays at once), as parsed for production.
  config = parseConfig({
    DATABASE_URL: db.url,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: prefix,
    DEVICE_TOKEN_SECRET: SECRET,
  });
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.emit('line', JSON.parse(line) as Record<string, unknown>) });
  readPool = createPool(db.url, { max: config.postgresPool.max, applicationName: 'esh3ar-test-gateway-reads' });
  writePool = createPool(db.url, {
    max: 4,
    applicationName: 'esh3ar-test-gateway-writes',
    onStatement: (name, _seconds, failed) => {
      if (name === 'mark-delivered' && !failed) ackWrites++;
    },
  });
  // Stopping PostgreSQL ends the idle connections; the pools open new ones on next use.
  for (const p of [readPool, writePool]) p.on('error', (error) => logger.debug({ err: error }, 'pooled connection ended'));
  ({
    tenant: { id: tenantId },
  } = await createTenant(writePool, { name: 'back pressure', tier: 'enterprise', rpm: null, burst: null }));
  redis = createRedis(config.redis.url, { name: 'esh3ar-test-gateway', failFast: false });
  subscriber = createRedis(config.redis.url, { name: 'esh3ar-test-gateway-deliveries', failFast: false });
  const metrics = createGatewayMetrics(createRegistry('gateway'));
  status = new StatusWriter(writePool, logger, metrics, 'test-gateway', {
    flushMs: config.ackFlushMs,
    maxPending: config.statusWrites.maxPending,
  });
  // No re-push within a test: the hub's reads are the replays alone.
  hub = new DeviceHub({
    pool: readPool,
    status,
    metrics,
    logger,
    ackTimeoutMs: () => 3_600_000,
    replayPageSize: config.replay.pageSize,
    replaysAtOnce: config.replay.atOnce,
    slowReaders: config.slowReaders,
  });
  subscribeDeliveries({ subscriber, redis, prefix, gatewayId: 'test-gateway', hub, logger });
  app = await buildGateway({
    logger,
    pool: readPool,
    redis,
    subscriber,
    status,
    prefix,
    gatewayId: 'test-gateway',
    hub,
    metrics,
    registry: createRegistry('gateway'),
    identify: deviceTokenVerifier(config.deviceTokens),
    websocket: config.websocket,
    connections: config.connections,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});
afterAll(async () => {
  for (const d of devices) d.socket.terminate();
  hub?.close();
  await app?.close();
  await status?.close();
  await Promise.allSettled([readPool?.end(), writePool?.end()]);
  subscriber?.disconnect();
  redis?.disconnect();
  if (config) await deletePrefix(config.redis.url, config.redis.prefix);
  await db?.drop();
  pgServer?.destroy();
});

describe('acks while PostgreSQL is down', () => {
  it('takes 300,000 acks with PostgreSQL stopped: holds at most its cap, stops reading the devices there, and writes every ack once it is back', async () => {
    const cap = config.statusWrites.maxPending;
    expect(cap).toBe(200_000);
    const PHONES = 100;
    const PER_PHONE = 3000;
    const phones = Array.from({ length: PHONES }, newPhone);
    const stored = new Map<string, string[]>();
    for (const phone of phones) stored.set(phone, await storePending(phone, PER_PHONE));
    const all = [...stored.values()].flat();

    // Every message pushed (sent) while PostgreSQL is up, 20 devices at a time so that the
    // sent marks (written at ~45,000/s) never reach the cap before the test means them to.
    const connected: Device[] = [];
    for (let i = 0; i < PHONES; i += 20) {
      const group = await Promise.all(phones.slice(i, i + 20).map(openDevice));
      await Promise.all(group.map((d) => d.received(PER_PHONE)));
      await status.flush();
      connected.push(...group);
    }
    expect(status.pending).toBe(0);
    expect(hub.stalled).toBe(false);

    const full = once(status, 'full');
    pgServer.stop();
    // Every device acknowledges all it got, in frames of 1,000 ids (the most a frame may carry).
    for (const d of connected) for (let i = 0; i < PER_PHONE; i += 1000) d.ack(d.ids.slice(i, i + 1000));
    await full;

    // At the cap the hub stops reading every device socket. ws still hands over what it had
    // read from the socket that reached the cap: that frame's remaining ids and at most one
    // more completed in the same 64 KiB read (a frame of 1,000 ids is ~39 KB).
    expect(hub.stalled).toBe(true);
    expect(hub.connections().every((c) => c.socket.isPaused)).toBe(true);
    expect(status.pending).toBeGreaterThanOrEqual(cap);
    expect(status.pending).toBeLessThanOrEqual(cap + 2000);
    // Putting a failed write back threw RangeError past ~125,000 acks and wrote nothing from then on.
    const held = status.pending;
    await expect(status.flush()).resolves.toBeUndefined();
    expect(status.failing).toBe(true);
    expect(status.pending).toBe(held);
    const down = await ready();
    expect(down.status).toBe('unavailable');
    expect(down.checks).toMatchObject({ postgres: expect.stringMatching(/^error/), statusWrites: { state: 'full' } });

    const drained = once(status, 'drain');
    pgServer.start();
    await drained;
    expect(hub.stalled).toBe(false);
    // Polled: PostgreSQL's state; the writer emits nothing per write.
    await waitFor(
      () => deliveredCount(all),
      (n) => n === all.length,
      90_000,
      100,
    );
    expect(status.pending).toBe(0);
    // In chunks of at most 5,000 acks, one UPDATE each.
    expect(ackWrites).toBeGreaterThanOrEqual(all.length / 5000);
    expect(hub.connections().some((c) => c.socket.isPaused)).toBe(false);
    for (const d of connected) expect(d.errors).toEqual([]);
    expect((await ready()).status).toBe('ok');
  });
});

describe('replays', () => {
  it('a reconnect storm of 1,000 devices: at most replay.atOnce replays read PostgreSQL at once, and every device gets its messages', async () => {
    const phones = Array.from({ length: 1000 }, newPhone);
    const ids = new Map<string, string>();
    for (const phone of phones) ids.set(phone, (await storePending(phone, 1))[0]!);
    // The hub's pool serves the replays alone here (re-pushes are an hour away).
    let active = 0;
    let most = 0;
    const acquired = () => (most = Math.max(most, ++active));
    const released = () => active--;
    readPool.on('acquire', acquired);
    readPool.on('release', released);
    try {
      const storm = await Promise.all(phones.map(openDevice));
      await Promise.all(storm.map((d) => d.received(1)));
      storm.forEach((d, i) => expect(d.ids).toEqual([ids.get(phones[i]!)]));
    } finally {
      readPool.off('acquire', acquired);
      readPool.off('release', released);
    }
    // The pool would run config.postgresPool.max (8) at once.
    expect(most).toBe(config.replay.atOnce);
  });

  it('a device that connects while PostgreSQL is stopped keeps its connection and gets its replay within 5 s of PostgreSQL answering', async () => {
    const phone = newPhone();
    const stored = await storePending(phone, 3);
    pgServer.stop();
    const failed = logLine((l) => typeof l.msg === 'string' && l.msg.startsWith('replay failed'));
    const device = await openDevice(phone);
    await failed;
    expect(device.socket.readyState).toBe(WebSocket.OPEN);
    expect((await ready()).checks).toMatchObject({ postgres: expect.stringMatching(/^error/) });

    pgServer.start();
    const answering = Date.now();
    await device.received(3);
    expect(Date.now() - answering).toBeLessThan(5000);
    expect(device.ids).toEqual(stored);
    expect(device.socket.readyState).toBe(WebSocket.OPEN);
    device.ack(stored);
    await waitFor(
      () => deliveredCount(stored),
      (n) => n === 3,
      10_000,
      50,
    );
  });
});
