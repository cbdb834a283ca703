import { send, startStack, TestDevice, waitFor, type AppProcess, type Stack } from '@esh3ar/stack';
import { once } from 'node:events';
import { createSigner } from 'fast-jwt';
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let stack: Stack;
let apiKey: string;
let phoneSeq = 0;
const devices: TestDevice[] = [];

/** A phone number no other test uses. */
const newPhone = () => `+9665${String(10_000_000 + phoneSeq++ * 7919 + Math.floor(Math.random() * 1000)).slice(0, 8)}`;
const streamUrl = (gateway: AppProcess) => `ws://127.0.0.1:${gateway.port}/v1/stream`;

async function connect(phone: string, gateway = stack.gateways[0]!): Promise<TestDevice> {
  const device = await TestDevice.connect(streamUrl(gateway), stack.deviceToken(phone));
  devices.push(device);
  return device;
}

async function sendTo(phone: string, over: Record<string, unknown> = {}): Promise<string> {
  const r = await send(stack.api!.url, apiKey, 'POST', '/v1/messages', { recipient: phone, content: 'hello', ...over });
  expect(r.status).toBe(202);
  return r.body.id as string;
}

const statusOf = async (id: string) => (await send(stack.api!.url, apiKey, 'GET', `/v1/messages/${id}`)).body;
const waitStatus = (id: string, status: string) =>
  waitFor(
    () => statusOf(id),
    (m) => m.status === status,
  );

beforeAll(async () => {
  stack = await startStack('gateway-delivery', {
    workers: 1,
    gateways: 2,
    env: {
      GATEWAY_ACK_TIMEOUT_MS: '1500',
      GATEWAY_PRESENCE_TTL_MS: '3000',
      GATEWAY_PING_INTERVAL_MS: '1000',
      WORKER_BATCH_TIMEOUT_MS: '5',
      WORKER_EXPIRY_SWEEP_MS: '200',
    },
  });
  ({ apiKey } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 }));
});
afterAll(async () => {
  await Promise.allSettled(devices.map((d) => d.close()));
  await stack?.close();
});

describe('live delivery', () => {
  it('pushes a stored message to the connected phone at once; sent until the ack, then delivered, byte-exact', async () => {
    const phone = newPhone();
    const device = await connect(phone);
    const content = 'tab\there\nnew line\r\n\\ backslash \\N \\. مرحبا 😀 "quoted"';
    const id = await sendTo(phone, { content, subject: 'Order\t1', priority: 'high', metadata: { orderId: '1234' } });
    await device.waitForMessages(1);
    expect(device.messages()[0]).toEqual({
      type: 'message',
      id,
      tenant: expect.any(String),
      subject: 'Order\t1',
      content,
      priority: 'high',
      createdAt: expect.any(String),
      metadata: { orderId: '1234' },
    });
    await waitStatus(id, 'sent');
    device.ack(id);
    const delivered = await waitStatus(id, 'delivered');
    expect(delivered.deliveredAt).not.toBeNull();
    expect(delivered.events.map((e: { status: string }) => e.status)).toEqual(['queued', 'pending', 'sent', 'delivered']);
  });

  it('delivers to every device of a phone; the first ack wins and a later one is harmless', async () => {
    const phone = newPhone();
    const [a, b] = [await connect(phone), await connect(phone, stack.gateways[1])];
    const id = await sendTo(phone);
    await Promise.all([a.waitForMessages(1), b.waitForMessages(1)]);
    a.ack(id);
    const first = await waitStatus(id, 'delivered');
    // b acks later through its own gateway; a marker acked after it proves that ack was written.
    b.ack(id);
    const marker = await sendTo(phone, { content: 'marker' });
    await b.waitFor((f) => f.some((x) => x.id === marker));
    b.ack(marker);
    await waitStatus(marker, 'delivered');
    const after = await statusOf(id);
    expect(after.deliveredAt).toBe(first.deliveredAt);
    expect(after.events.filter((e: { status: string }) => e.status === 'delivered')).toHaveLength(1);
  });
});

describe('offline phones', () => {
  it('gets everything on connect, highest priority first, oldest first within a priority', async () => {
    const phone = newPhone();
    const sent: { id: string; priority: string }[] = [];
    for (const priority of ['low', 'normal', 'critical', 'high', 'low', 'critical', 'normal', 'high']) {
      sent.push({ id: await sendTo(phone, { priority, content: priority }), priority });
    }
    await waitFor(
      () => Promise.all(sent.map((s) => statusOf(s.id))),
      (ms) => ms.every((m) => m.status === 'pending'),
    );
    const device = await connect(phone);
    await device.waitForMessages(sent.length);
    const rank: Record<string, number> = { critical: 0, high: 1, normal: 2, low: 3 };
    const expected = [...sent].sort((x, y) => rank[x.priority]! - rank[y.priority]! || (x.id < y.id ? -1 : 1)).map((s) => s.id);
    expect(device.messages().map((m) => m.id)).toEqual(expected);
  });

  it('re-delivers what was not acknowledged: after the ack timeout, and on reconnect; never after the ack', async () => {
    const phone = newPhone();
    const first = await connect(phone);
    const id = await sendTo(phone);
    await first.waitForMessages(2); // pushed, then pushed again after 1.5 s without an ack
    expect(first.messages().map((m) => m.id)).toEqual([id, id]);
    await first.close();
    const second = await connect(phone);
    await second.waitForMessages(1);
    expect(second.messages()[0]!.id).toBe(id);
    second.ack(id);
    await waitStatus(id, 'delivered');
    await second.close();
    const third = await connect(phone);
    const marker = await sendTo(phone, { content: 'marker' });
    await third.waitForMessages(1);
    expect(third.messages().map((m) => m.id)).toEqual([marker]);
  });

  it('expires a message whose TTL passes before delivery, and never sends it', async () => {
    const phone = newPhone();
    const id = await sendTo(phone, { ttlSeconds: 1 });
    const expired = await waitStatus(id, 'expired');
    expect(expired.events.at(-1)).toMatchObject({ status: 'expired' });
    const device = await connect(phone);
    const marker = await sendTo(phone, { content: 'after expiry' });
    await device.waitForMessages(1);
    expect(device.messages().map((m) => m.id)).toEqual([marker]);
  });
});

describe('security', () => {
  it('refuses missing, malformed, forged and expired tokens with 401 and opens no socket', async () => {
    const url = streamUrl(stack.gateways[0]!);
    const phone = newPhone();
    const forged = createSigner({ key: 'not-the-secret', algorithm: 'HS256', expiresIn: 60_000 })({ sub: phone });
    const expired = createSigner({ key: stack.env.DEVICE_TOKEN_SECRET!, algorithm: 'HS256', expiresIn: 1 })({ sub: phone });
    const notAPhone = createSigner({ key: stack.env.DEVICE_TOKEN_SECRET!, algorithm: 'HS256', expiresIn: 60_000 })({ sub: 'alice' });
    const noneAlg = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: phone, exp: 9_999_999_999 })).toString('base64url')}.`;
    await new Promise((resolve) => setTimeout(resolve, 5)); // let the 1 ms token expire
    for (const [token, via] of [
      [null, 'header'],
      ['garbage', 'header'],
      [forged, 'header'],
      [forged, 'query'],
      [expired, 'header'],
      [notAPhone, 'query'],
      [noneAlg, 'header'],
    ] as const) {
      await expect(TestDevice.connect(url, token, via)).rejects.toThrow('401');
    }
    const ok = await TestDevice.connect(url, stack.deviceToken(phone), 'query');
    devices.push(ok);
  });

  it('never gives a phone another phone’s message, and an ack for it changes nothing', async () => {
    const alice = newPhone();
    const bob = newPhone();
    const aliceDevice = await connect(alice);
    const bobDevice = await connect(bob, stack.gateways[1]);
    const forAlice = await sendTo(alice, { content: 'for alice' });
    const forBob = await sendTo(bob, { content: 'for bob' });
    await Promise.all([aliceDevice.waitForMessages(1), bobDevice.waitForMessages(1)]);
    expect(aliceDevice.messages().map((m) => m.id)).toEqual([forAlice]);
    expect(bobDevice.messages().map((m) => m.id)).toEqual([forBob]);
    // Its push recorded (the status writer flushes in batches), so that `sent` below is
    // the status the acks left, not one not yet written.
    await waitStatus(forBob, 'sent');
    bobDevice.ack(forAlice);
    await bobDevice.waitFor((f) => f.some((x) => x.type === 'error' && x.code === 'UNKNOWN_MESSAGE'));
    aliceDevice.ack(forAlice);
    await waitStatus(forAlice, 'delivered');
    expect((await statusOf(forBob)).status).toBe('sent');
  });

  it('answers bad frames with an error frame and keeps the connection; an oversized frame closes it (1009)', async () => {
    const phone = newPhone();
    const device = await connect(phone);
    device.send('not json');
    device.send({ type: 'subscribe' });
    // Nested deeper than JSON.stringify can go: answered like any unknown type, and the
    // gateway stays up (the message sent below still arrives).
    device.send(`{"type":${'['.repeat(6000)}${']'.repeat(6000)}}`);
    device.send({ type: 'ack' });
    device.send({ type: 'ack', id: 'not-a-uuid' });
    device.send({ type: 'ack', ids: [] });
    device.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    device.ack('01937a6e-0000-7000-8000-000000000000');
    await device.waitFor((f) => f.filter((x) => x.type === 'error').length >= 8);
    expect(device.frames.filter((x) => x.type === 'error').map((x) => x.code)).toEqual([
      'INVALID_FRAME',
      'UNKNOWN_TYPE',
      'UNKNOWN_TYPE',
      'INVALID_ACK',
      'INVALID_ACK',
      'INVALID_ACK',
      'INVALID_FRAME',
      'UNKNOWN_MESSAGE',
    ]);
    const id = await sendTo(phone, { content: 'still open' });
    await device.waitForMessages(1);
    expect(device.messages()[0]!.id).toBe(id);
    device.send('x'.repeat(70 * 1024));
    expect((await device.closed()).code).toBe(1009);
  });
});

describe('several gateways', () => {
  it('routes each message to the gateway holding the phone', async () => {
    const phones = [newPhone(), newPhone(), newPhone(), newPhone()];
    const connected = await Promise.all(phones.map((p, i) => connect(p, stack.gateways[i % 2])));
    const ids = await Promise.all(phones.map((p) => sendTo(p, { content: `for ${p}` })));
    await Promise.all(connected.map((d) => d.waitForMessages(1)));
    connected.forEach((d, i) => expect(d.messages().map((m) => m.id)).toEqual([ids[i]]));
  });

  it('a gateway killed with SIGKILL: its devices reconnect to another and get everything not acknowledged', async () => {
    const doomed = await stack.startGateway();
    const phone = newPhone();
    const device = await connect(phone, doomed);
    const pushed = await sendTo(phone, { content: 'pushed, not acked' });
    await device.waitForMessages(1);
    await doomed.stop('SIGKILL');
    stack.gateways.splice(stack.gateways.indexOf(doomed), 1);
    await device.closed();
    const whileDown = await sendTo(phone, { content: 'sent while reconnecting' });
    const again = await connect(phone, stack.gateways[0]);
    await again.waitForMessages(2);
    expect(new Set(again.messages().map((m) => m.id))).toEqual(new Set([pushed, whileDown]));
    again.ack(pushed, whileDown);
    await waitStatus(pushed, 'delivered');
    await waitStatus(whileDown, 'delivered');
  });
});

describe('presence', () => {
  const gatewayIdOf = async (gateway: AppProcess) =>
    ((await fetch(`${gateway.url}/health/live`).then((r) => r.json())) as { gatewayId: string }).gatewayId;
  const presence = (redis: Redis, phone: string) => redis.zrange(`${stack.prefix}:presence:${phone}`, '0', '-1');

  it('a gateway whose presence lapsed adds its devices again at its next beat and replays what was stored meanwhile', async () => {
    const gateway = stack.gateways[0]!;
    const gatewayId = await gatewayIdOf(gateway);
    const phone = newPhone();
    const device = await connect(phone, gateway);
    const redis = new Redis(stack.env.REDIS_URL!);
    try {
      // What the cluster sees after a gateway misses its TTL and a reader cleans up: its
      // entries gone (a message stored now is routed nowhere and stays pending), then
      // its liveness key expired.
      await redis.del(`${stack.prefix}:presence:${phone}`);
      const whileGone = await sendTo(phone, { content: 'stored while the gateway counted as gone' });
      await waitStatus(whileGone, 'pending');
      await redis.del(`${stack.prefix}:gateway-alive:${gatewayId}`);
      await waitFor(
        () => presence(redis, phone),
        (members) => members.length === 1,
      );
      await device.waitFor((frames) => frames.some((f) => f.id === whileGone));
      const after = await sendTo(phone, { content: 'after the lapse' });
      await device.waitFor((frames) => frames.some((f) => f.id === after));
    } finally {
      redis.disconnect();
    }
  });

  it('an entry that outlived its connection on a live gateway is dropped by that gateway at the first delivery routed by it', async () => {
    const gateway = stack.gateways[0]!;
    const gatewayId = await gatewayIdOf(gateway);
    const phone = newPhone();
    const redis = new Redis(stack.env.REDIS_URL!);
    try {
      await redis.zadd(`${stack.prefix}:presence:${phone}`, Date.now(), `${gatewayId}|no-such-connection`);
      const id = await sendTo(phone, { content: 'to nobody here' });
      await waitFor(
        () => presence(redis, phone),
        (members) => members.length === 0,
      );
      // Still stored and pending: the phone gets it when it connects.
      expect((await statusOf(id)).status).toBe('pending');
      const device = await connect(phone, gateway);
      await device.waitFor((frames) => frames.some((f) => f.id === id));
    } finally {
      redis.disconnect();
    }
  });
});

describe('operations', () => {
  it('serves health and Prometheus metrics on the gateway port', async () => {
    const gateway = stack.gateways[0]!;
    expect((await send(gateway.url, null, 'GET', '/health/live')).status).toBe(200);
    const ready = await send(gateway.url, null, 'GET', '/health/ready');
    expect(ready.body).toMatchObject({ status: 'ok', checks: { redis: 'ok', postgres: 'ok' } });
    const metrics = await fetch(`${gateway.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/^esh3ar_gateway_connections\{service="gateway"\} \d+/m);
    expect(metrics).toMatch(/^esh3ar_accept_to_device_seconds_bucket\{/m);
    expect(metrics).toMatch(/^esh3ar_gateway_rejected_upgrades_total\{service="gateway"\} [1-9]/m);
  });

  it('pings every device; one that stops answering pings is dropped', async () => {
    const device = await connect(newPhone());
    await once(device.socket, 'ping');
    const silent = new WebSocket(streamUrl(stack.gateways[0]!), {
      headers: { authorization: `Bearer ${stack.deviceToken(newPhone())}` },
      autoPong: false,
    });
    const closed = once(silent, 'close');
    await once(silent, 'open');
    await once(silent, 'ping');
    const [code] = (await closed) as [number];
    expect(code).toBe(1006); // terminated: no close handshake for a dead peer
    expect(device.socket.readyState).toBe(WebSocket.OPEN);
  });

  it('on SIGTERM closes every device with 1001 so it reconnects elsewhere, and exits 0', async () => {
    const leaving = await stack.startGateway();
    const device = await connect(newPhone(), leaving);
    const exited = leaving.stop('SIGTERM');
    stack.gateways.splice(stack.gateways.indexOf(leaving), 1);
    expect((await device.closed()).code).toBe(1001);
    expect(await exited).toEqual({ code: 0, signal: null });
  });

  it('answers an upgrade to any other path with 404 and opens no socket', async () => {
    const gateway = stack.gateways[0]!;
    await expect(TestDevice.connect(`ws://127.0.0.1:${gateway.port}/health/live`, stack.deviceToken(newPhone()))).rejects.toThrow('404');
  });
});
