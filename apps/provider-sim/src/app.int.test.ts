import { send, startApp, waitFor, type AppProcess } from '@esh3ar/stack';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

let sim: AppProcess;
let url: string;
let keys = 0;

const MAX_RECEIVED = 50;
const PHONE = '+966501234567';
const ID = /^sim_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const newKey = () => `key-${++keys}`;
const post = (channel: string, body: unknown, key: string | null = newKey()) =>
  send(url, null, 'POST', `/v1/${channel}/send`, body, key === null ? {} : { 'idempotency-key': key });
const control = (change: unknown) => send(url, null, 'PUT', '/control', change);
const received = async (query = '') => (await send(url, null, 'GET', `/received${query}`)).body.items as Record<string, unknown>[];
const stats = async () => (await send(url, null, 'GET', '/stats')).body;

beforeAll(async () => {
  sim = await startApp('provider-sim', { PROVIDER_SIM_PORT: '0', PROVIDER_SIM_MAX_RECEIVED: String(MAX_RECEIVED) });
  url = sim.url;
});
afterAll(async () => sim?.stop('SIGKILL'));
beforeEach(async () => {
  expect((await send(url, null, 'DELETE', '/control')).status).toBe(200);
  expect((await send(url, null, 'DELETE', '/received')).status).toBe(200);
});

describe('POST /v1/:channel/send', () => {
  it('accepts a message, records it once, and answers a repeat of its Idempotency-Key with the same id', async () => {
    const before = await stats();
    const first = await post('sms', { to: PHONE, text: 'Your code is 1234' }, 'order-1');
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ id: expect.stringMatching(ID), status: 'accepted', duplicate: false });

    const repeat = await post('sms', { to: PHONE, text: 'Your code is 1234' }, 'order-1');
    expect(repeat.status).toBe(200);
    expect(repeat.body).toEqual({ id: first.body.id, status: 'accepted', duplicate: true });

    // A '+' needs no percent-encoding in the query.
    const items = await received(`?recipient=${PHONE}`);
    expect(items).toEqual([
      {
        id: first.body.id,
        channel: 'sms',
        to: PHONE,
        text: 'Your code is 1234',
        subject: null,
        idempotencyKey: 'order-1',
        receivedAt: expect.any(String),
      },
    ]);
    expect(Date.now() - Date.parse(items[0]!.receivedAt as string)).toBeLessThan(60_000);
    const after = await stats();
    expect(after.sms.accepted - before.sms.accepted).toBe(1);
    expect(after.sms.duplicates - before.sms.duplicates).toBe(1);
  });

  it('keeps idempotency keys per channel, and stores subject and Unicode text as sent', async () => {
    const sms = await post('sms', { to: PHONE, text: 'x' }, 'shared');
    const whatsapp = await post('whatsapp', { to: PHONE, text: 'مرحبا 👋\n\t"quoted"\\' }, 'shared');
    const email = await post('email', { to: 'user@example.com', text: 'body', subject: 'Order 1234', extra: 'ignored' }, 'shared');
    expect([sms, whatsapp, email].map((r) => [r.status, r.body.duplicate])).toEqual([
      [200, false],
      [200, false],
      [200, false],
    ]);
    expect(new Set([sms.body.id, whatsapp.body.id, email.body.id]).size).toBe(3);
    const items = await received();
    expect(items.map((i) => [i.channel, i.text, i.subject])).toEqual([
      ['sms', 'x', null],
      ['whatsapp', 'مرحبا 👋\n\t"quoted"\\', null],
      ['email', 'body', 'Order 1234'],
    ]);
  });

  it.each([
    ['no Idempotency-Key', { to: PHONE, text: 'x' }, null, 'the Idempotency-Key header is required'],
    ['a body that is not JSON', '{"to": ', 'k-json', 'the body is not valid JSON'],
    ['a JSON array', [], 'k-array', 'the body must be a JSON object'],
    ['no text', { to: PHONE }, 'k-text', 'text must be a string'],
    ['an empty text', { to: PHONE, text: '' }, 'k-empty', 'text must be a string'],
    ['a number as to', { to: 966501234567, text: 'x' }, 'k-to', 'to must be a string'],
  ])('refuses %s with 400 INVALID_REQUEST and records nothing', async (_case, body, key, message) => {
    const r = await post('sms', body, key);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_REQUEST');
    expect(r.body.error.message).toContain(message);
    expect(await received()).toEqual([]);
  });

  it('answers 404 NOT_FOUND for an unknown channel', async () => {
    const r = await post('fax', { to: PHONE, text: 'x' });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('NOT_FOUND');
  });

  it.each([
    ['sms', '966501234567', 'E.164'],
    ['sms', '+0123456789', 'E.164'],
    ['whatsapp', 'user@example.com', 'E.164'],
    ['email', PHONE, 'email address'],
    ['sms', '+19995550100', '+1999'],
    ['whatsapp', '+1999123456789', '+1999'],
  ])('refuses %s to %s with 400 INVALID_RECIPIENT, every time, and records nothing', async (channel, to, message) => {
    const before = await stats();
    const key = newKey();
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = await post(channel, { to, text: 'x' }, key);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('INVALID_RECIPIENT');
      expect(r.body.error.message).toContain(message);
    }
    expect(await received()).toEqual([]);
    expect((await stats())[channel].rejected - before[channel].rejected).toBe(2);
  });
});

describe('fault injection', () => {
  it('errorRate 1 answers 503 UNAVAILABLE and records nothing; errorRate 0 then accepts the same key', async () => {
    const before = await stats();
    expect((await control({ errorRate: 1 })).status).toBe(200);
    for (const channel of ['sms', 'whatsapp']) {
      const r = await post(channel, { to: PHONE, text: 'x' }, 'retry-me');
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('UNAVAILABLE');
      expect(r.headers.get('retry-after')).toBeNull();
    }
    expect(await received()).toEqual([]);
    expect((await stats()).sms.failedInjected - before.sms.failedInjected).toBe(1);

    await control({ errorRate: 0 });
    const r = await post('sms', { to: PHONE, text: 'x' }, 'retry-me');
    expect(r.body).toMatchObject({ status: 'accepted', duplicate: false });
    expect(await received()).toHaveLength(1);
  });

  it('injects 429 with Retry-After on one channel only', async () => {
    const state = await control({ channel: 'whatsapp', errorRate: 1, errorStatus: 429, retryAfterSeconds: 7 });
    expect(state.body).toEqual({
      sms: { errorRate: 0, latencyMs: 0, down: false, errorStatus: 503, retryAfterSeconds: 1 },
      whatsapp: { errorRate: 1, latencyMs: 0, down: false, errorStatus: 429, retryAfterSeconds: 7 },
      email: { errorRate: 0, latencyMs: 0, down: false, errorStatus: 503, retryAfterSeconds: 1 },
    });
    expect((await send(url, null, 'GET', '/control')).body).toEqual(state.body);

    const limited = await post('whatsapp', { to: PHONE, text: 'x' });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('RATE_LIMITED');
    expect(limited.headers.get('retry-after')).toBe('7');
    expect((await post('sms', { to: PHONE, text: 'x' })).status).toBe(200);
    expect((await received()).map((i) => i.channel)).toEqual(['sms']);
  });

  it.each([
    [500, 'INTERNAL'],
    [502, 'BAD_GATEWAY'],
    [504, 'GATEWAY_TIMEOUT'],
  ])('injects %i %s when errorStatus says so', async (status, code) => {
    await control({ errorRate: 1, errorStatus: status });
    const r = await post('email', { to: 'user@example.com', text: 'x' });
    expect(r.status).toBe(status);
    expect(r.body.error.code).toBe(code);
  });

  it('records an accepted message before its latency: a client that times out was still accepted, and its retry gets the same id', async () => {
    // Held for 10 s, looked for within 2 s: an item recorded after the wait would not be found.
    await control({ channel: 'sms', latencyMs: 10_000 });
    const timedOut = fetch(`${url}/v1/sms/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'lost-answer' },
      body: JSON.stringify({ to: PHONE, text: 'answer lost' }),
      signal: AbortSignal.timeout(200),
    });
    await expect(timedOut).rejects.toMatchObject({ name: 'TimeoutError' });
    const [item] = await waitFor(
      () => received(`?recipient=${PHONE}`),
      (items) => items.length === 1,
      2000,
    );

    await control({ channel: 'sms', latencyMs: 0 });
    const retry = await post('sms', { to: PHONE, text: 'answer lost' }, 'lost-answer');
    expect(retry.body).toEqual({ id: item!.id, status: 'accepted', duplicate: true });
    expect(await received()).toHaveLength(1);
  });

  it('delays every answer of the channel by latencyMs, refusals and injected faults too', async () => {
    await control({ channel: 'email', latencyMs: 300 });
    const timed = async (run: () => Promise<{ status: number }>) => {
      const start = performance.now();
      const { status } = await run();
      return { status, ms: performance.now() - start };
    };
    const accepted = await timed(() => post('email', { to: 'user@example.com', text: 'x' }));
    const refused = await timed(() => post('email', { to: 'not an address', text: 'x' }));
    await control({ channel: 'email', errorRate: 1 });
    const injected = await timed(() => post('email', { to: 'user@example.com', text: 'x' }));
    const otherChannel = await timed(() => post('sms', { to: PHONE, text: 'x' }));
    expect([accepted.status, refused.status, injected.status, otherChannel.status]).toEqual([200, 400, 503, 200]);
    // Timers may fire a millisecond early against performance.now().
    for (const t of [accepted, refused, injected]) expect(t.ms).toBeGreaterThanOrEqual(295);
    expect(otherChannel.ms).toBeLessThan(295);
  });

  it('a channel that is down answers 503 at once, whatever the request, and the others keep working', async () => {
    const before = await stats();
    await control({ channel: 'email', down: true, latencyMs: 60_000, errorStatus: 429 });
    for (const [body, key] of [
      [{ to: 'user@example.com', text: 'x' }, newKey()],
      ['{"broken', newKey()],
      [{ to: 'user@example.com', text: 'x' }, null],
    ] as const) {
      const r = await post('email', body, key);
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('UNAVAILABLE');
    }
    expect((await post('sms', { to: PHONE, text: 'x' })).status).toBe(200);
    expect((await stats()).email.failedInjected - before.email.failedInjected).toBe(3);

    await control({ channel: 'email', down: false, latencyMs: 0, errorStatus: 503 });
    expect((await post('email', { to: 'user@example.com', text: 'x' })).status).toBe(200);
  });
});

describe('/control', () => {
  it.each([
    [{ errorRate: 1.01 }, 'errorRate'],
    [{ errorRate: -0.1 }, 'errorRate'],
    [{ errorRate: '0.5' }, 'errorRate'],
    [{ latencyMs: -1 }, 'latencyMs'],
    [{ latencyMs: 1.5 }, 'latencyMs'],
    [{ down: 'true' }, 'down'],
    [{ errorStatus: 418 }, 'errorStatus'],
    [{ retryAfterSeconds: 0 }, 'retryAfterSeconds'],
    [{ channel: 'fax', down: true }, 'channel'],
    [{ down: true, errorRate: 2 }, 'errorRate'],
    [{ down: true, dwon: true }, 'unknown key dwon'],
    [[{ down: true }], 'JSON object'],
    ['{"down": tru', 'JSON'],
  ])('refuses %j with 400 INVALID_REQUEST and applies nothing', async (change, message) => {
    const before = (await send(url, null, 'GET', '/control')).body;
    const r = await control(change);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_REQUEST');
    expect(r.body.error.message).toContain(message);
    expect((await send(url, null, 'GET', '/control')).body).toEqual(before);
  });

  it('applies a change without channel to every channel, and DELETE restores the defaults', async () => {
    const changed = await control({ errorRate: 0.5, latencyMs: 10 });
    for (const c of ['sms', 'whatsapp', 'email']) expect(changed.body[c]).toMatchObject({ errorRate: 0.5, latencyMs: 10, down: false });
    const reset = await send(url, null, 'DELETE', '/control');
    const defaults = { errorRate: 0, latencyMs: 0, down: false, errorStatus: 503, retryAfterSeconds: 1 };
    expect(reset.body).toEqual({ sms: defaults, whatsapp: defaults, email: defaults });
  });
});

describe('/received, /stats, /metrics, /health', () => {
  it('filters by recipient and channel, refuses an unknown channel, and DELETE forgets items and keys', async () => {
    const other = '+966509999999';
    await post('sms', { to: PHONE, text: 'one' }, 'k1');
    await post('whatsapp', { to: PHONE, text: 'two' });
    await post('sms', { to: other, text: 'three' });
    await post('email', { to: 'user@example.com', text: 'four' });
    expect((await received()).map((i) => i.text)).toEqual(['one', 'two', 'three', 'four']);
    expect((await received(`?recipient=${PHONE}`)).map((i) => i.text)).toEqual(['one', 'two']);
    expect((await received(`?recipient=${encodeURIComponent(PHONE)}&channel=whatsapp`)).map((i) => i.text)).toEqual(['two']);
    expect((await received('?channel=sms')).map((i) => i.text)).toEqual(['one', 'three']);
    expect((await received('?recipient=user@example.com')).map((i) => i.text)).toEqual(['four']);
    expect(await received('?recipient=%2B15550000000')).toEqual([]);
    const bad = await send(url, null, 'GET', '/received?channel=fax');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_REQUEST');

    expect((await send(url, null, 'DELETE', '/received')).body).toEqual({ cleared: 4 });
    expect(await received()).toEqual([]);
    expect((await post('sms', { to: PHONE, text: 'one' }, 'k1')).body.duplicate).toBe(false);
  });

  it(`keeps the newest ${MAX_RECEIVED} items, counts the dropped ones and forgets their keys`, async () => {
    const before = await stats();
    for (let i = 0; i < MAX_RECEIVED + 5; i++) expect((await post('sms', { to: PHONE, text: `n${i}` }, `bound-${i}`)).status).toBe(200);
    const items = await received();
    expect(items).toHaveLength(MAX_RECEIVED);
    expect(items[0]!.text).toBe('n5');
    expect((await stats()).sms.dropped - before.sms.dropped).toBe(5);
    expect((await post('sms', { to: PHONE, text: 'n0' }, 'bound-0')).body.duplicate).toBe(false);
    expect((await post('sms', { to: PHONE, text: 'n54' }, 'bound-54')).body.duplicate).toBe(true);
  });

  it('counts every outcome per channel in /stats and in esh3ar_provider_sim_requests_total', async () => {
    const before = await stats();
    await post('whatsapp', { to: PHONE, text: 'x' }, 'm1');
    await post('whatsapp', { to: PHONE, text: 'x' }, 'm1');
    await post('whatsapp', { to: 'nope', text: 'x' });
    await post('whatsapp', { to: PHONE });
    await control({ channel: 'whatsapp', errorRate: 1 });
    await post('whatsapp', { to: PHONE, text: 'x' });
    await control({ channel: 'whatsapp', down: true });
    await post('whatsapp', { to: PHONE, text: 'x' });
    const after = await stats();
    expect(Object.keys(after)).toEqual(['sms', 'whatsapp', 'email']);
    const delta = Object.fromEntries(Object.entries(after.whatsapp as Record<string, number>).map(([k, v]) => [k, v - before.whatsapp[k]]));
    expect(delta).toEqual({ accepted: 1, duplicates: 1, rejected: 2, failedInjected: 2, dropped: 0 });

    const metrics = await send(url, null, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    const value = (outcome: string) => {
      const line = (metrics.body as string)
        .split('\n')
        .find(
          (l) =>
            l.startsWith('esh3ar_provider_sim_requests_total{') && l.includes('channel="whatsapp"') && l.includes(`outcome="${outcome}"`),
        );
      return Number(line?.split(' ').at(-1));
    };
    expect(value('accepted')).toBe(after.whatsapp.accepted);
    expect(value('duplicate')).toBe(after.whatsapp.duplicates);
    expect(value('invalid_recipient') + value('invalid_request')).toBe(after.whatsapp.rejected);
    expect(value('injected') + value('down')).toBe(after.whatsapp.failedInjected);
    expect(metrics.body).toContain('service="provider-sim"');
    expect(metrics.body).toContain('esh3ar_process_cpu_user_seconds_total');
  });

  it('answers the health probes and 404 NOT_FOUND for unknown routes', async () => {
    expect((await send(url, null, 'GET', '/health/live')).status).toBe(200);
    expect((await send(url, null, 'GET', '/health/ready')).status).toBe(200);
    const missing = await send(url, null, 'GET', '/v2/nothing');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
  });
});

describe('shutdown', () => {
  it('on SIGTERM answers a request waiting out its latency at once, then exits 0', async () => {
    await control({ channel: 'sms', latencyMs: 60_000 });
    const pending = post('sms', { to: PHONE, text: 'in flight' }, 'in-flight');
    await waitFor(
      () => received(),
      (items) => items.length === 1,
      5000,
    );
    const start = performance.now();
    const exit = sim.stop('SIGTERM');
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(answer.body.duplicate).toBe(false);
    expect(await exit).toEqual({ code: 0, signal: null });
    expect(performance.now() - start).toBeLessThan(10_000);
    await sim.waitForLog((l) => l.msg === 'stopped', 1000);
  });
});
