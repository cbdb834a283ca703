import { sampleBufferedMessage, type DeliveryItem } from '@esh3ar/contracts';
import { storeBatch } from '@esh3ar/db';
import { gatewayChannel } from '@esh3ar/queue/presence';
import {
  send,
  startPrivatePostgres,
  startPrivateRedis,
  startStack,
  TestDevice,
  uuidv7,
  waitFor,
  type AppProcess,
  type PrivatePostgres,
  type PrivateRedis,
  type Stack,
} from '@esh3ar/stack';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The gateway process with PostgreSQL and Redis servers of this file's own, stopped,
// killed and started for real: whether main.ts keeps running (docs/operations.md: when PostgreSQL or Redis fails) is the
// point, so the gateway runs as a process. No worker: the test publishes deliveries
// on the gateway's channel as a worker does.
let pg: PrivatePostgres;
let redis: PrivateRedis;
let stack: Stack;
let gateway: AppProcess;
let gatewayId: string;
let tenantId: string;
const devices: TestDevice[] = [];
let phoneSeq = 0;

const newPhone = () => `+96657${String(1_000_000 + phoneSeq++)}`;
const alive = (p: AppProcess) => p.child.exitCode === null && p.child.signalCode === null;
const ready = () => send(gateway.url, null, 'GET', '/health/ready');

/** Polls /health/ready (the gateway's state, in another process) until it answers `code`; the time it took. */
async function readyAnswers(code: number): Promise<number> {
  const started = Date.now();
  await waitFor(ready, (r) => r.status === code, 30_000, 50);
  return Date.now() - started;
}

async function connect(phone: string): Promise<TestDevice> {
  const device = await TestDevice.connect(`ws://127.0.0.1:${gateway.port}/v1/stream`, stack.deviceToken(phone));
  devices.push(device);
  return device;
}

/** Stores a pending app message, as a worker does before it routes it. */
async function store(phone: string, content: string): Promise<DeliveryItem> {
  const message = sampleBufferedMessage({ id: uuidv7(), tenantId, recipient: phone, content });
  await storeBatch(stack.pool, [{ message, state: { status: 'pending', failureReason: null } }]);
  return {
    id: message.id,
    tenantId,
    recipient: phone,
    subject: null,
    content,
    priority: 'normal',
    createdAt: message.acceptedAt,
    metadata: null,
    expiresAt: null,
  };
}

/** Routes live messages to the gateway, as a worker does. */
async function publish(items: DeliveryItem[]): Promise<number> {
  const client = new Redis(redis.url);
  try {
    return await client.publish(gatewayChannel(stack.prefix, gatewayId), JSON.stringify(items));
  } finally {
    client.disconnect();
  }
}

const statusOf = async (id: string) =>
  (await stack.pool.query<{ status: string }>('SELECT status FROM messages WHERE id = $1', [id])).rows[0]?.status;

beforeAll(async () => {
  pg = await startPrivatePostgres();
  redis = await startPrivateRedis();
  stack = await startStack('gateway-outage', { api: false, databaseUrl: pg.url, redisUrl: redis.url });
  // The teardown and the stops end the stack pool's idle connections; it opens new ones.
  stack.pool.on('error', () => undefined);
  ({ tenantId } = await stack.tenant());
});
afterAll(async () => {
  await Promise.allSettled(devices.map((d) => d.close()));
  await stack?.close();
  await redis?.destroy();
  pg?.destroy();
});

describe('the gateway while PostgreSQL and Redis fail', () => {
  it('starts while both refuse connections, answers 503, and is ready within 5 s of them answering; then delivers live', async () => {
    await redis.kill();
    pg.stop();
    gateway = await stack.startGateway();
    const down = await ready();
    expect(down.status).toBe(503);
    expect(down.body.checks).toMatchObject({
      redis: expect.stringMatching(/^error/),
      deliveries: expect.stringMatching(/^error/),
      postgres: expect.stringMatching(/^error/),
    });

    await redis.start();
    pg.start();
    expect(await readyAnswers(200)).toBeLessThan(5000);
    gatewayId = ((await send(gateway.url, null, 'GET', '/health/live')).body as { gatewayId: string }).gatewayId;
    const phone = newPhone();
    const device = await connect(phone);
    const item = await store(phone, 'live after the start-up outage');
    expect(await publish([item])).toBe(1);
    await device.waitFor((frames) => frames.some((f) => f.id === item.id));
    expect(alive(gateway)).toBe(true);
  });

  it('Redis killed under connected devices: stays up, not ready meanwhile, subscribes again and replays what was published to nobody', async () => {
    const phone = newPhone();
    const device = await connect(phone);
    await redis.kill();
    await readyAnswers(503);
    // Stored and published while the gateway's subscriber was away: it reached nobody.
    const missed = await store(phone, 'published while Redis was down');

    await redis.start();
    const answering = Date.now();
    await device.waitFor((frames) => frames.some((f) => f.id === missed.id), 5000);
    expect(Date.now() - answering).toBeLessThan(5000);
    expect(await readyAnswers(200)).toBeLessThan(5000 - (Date.now() - answering));
    const live = await store(phone, 'live after Redis came back');
    expect(await publish([live])).toBe(1);
    await device.waitFor((frames) => frames.some((f) => f.id === live.id));
    expect(device.socket.readyState).toBe(device.socket.OPEN);
    expect(alive(gateway)).toBe(true);
  });

  it('PostgreSQL stopped under connected devices: stays up, keeps them, writes the acks it took, replays to those that connected meanwhile', async () => {
    const phone = newPhone();
    const device = await connect(phone);
    const pushed = await store(phone, 'pushed before the outage');
    await publish([pushed]);
    await device.waitFor((frames) => frames.some((f) => f.id === pushed.id));
    await waitFor(
      () => statusOf(pushed.id),
      (s) => s === 'sent',
      10_000,
    );
    const laterPhone = newPhone();
    const waiting = await store(laterPhone, 'stored before the outage, for a phone that connects during it');

    const stopped = Date.now();
    pg.stop();
    await readyAnswers(503);
    device.ack(pushed.id);
    const later = await connect(laterPhone);
    await gateway.waitForLog(
      (l) => typeof l.msg === 'string' && l.msg.startsWith('replay failed') && Date.parse(String(l.time)) >= stopped,
      10_000,
    );

    pg.start();
    const answering = Date.now();
    await later.waitFor((frames) => frames.some((f) => f.id === waiting.id), 5000);
    expect(await readyAnswers(200)).toBeLessThan(5000 - (Date.now() - answering));
    await waitFor(
      () => statusOf(pushed.id),
      (s) => s === 'delivered',
      5000,
    );
    expect(Date.now() - answering).toBeLessThan(5000);
    for (const d of [device, later]) expect(d.socket.readyState).toBe(d.socket.OPEN);
    expect(alive(gateway)).toBe(true);
    expect(gateway.logs.filter((l) => l.msg === 'stopping after an unexpected error')).toEqual([]);
  });
});
