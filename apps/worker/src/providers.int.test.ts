import { randomBytes } from 'node:crypto';
import { send, startApp, startStack, waitFor, type AppProcess, type Stack } from '@esh3ar/stack';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const ADMIN = `adm_${randomBytes(24).toString('base64url')}`;
let stack: Stack;
let sim: AppProcess;
let apiKey: string;
let seq = 0;

const newPhone = () => `+9665${String(20_000_000 + seq++ * 104_729 + Math.floor(Math.random() * 100)).slice(0, 8)}`;
const api = () => stack.api!.url;

async function control(body: Record<string, unknown>): Promise<void> {
  const r = await send(sim.url, null, 'PUT', '/control', body);
  expect(r.status).toBe(200);
}

async function received(recipient: string): Promise<{ id: string; text: string; idempotencyKey: string }[]> {
  return (await send(sim.url, null, 'GET', `/received?recipient=${encodeURIComponent(recipient)}`)).body.items;
}

async function sendSms(recipient: string, over: Record<string, unknown> = {}): Promise<string> {
  const r = await send(api(), apiKey, 'POST', '/v1/messages', { recipient, content: `hello ${recipient}`, channel: 'sms', ...over });
  expect(r.status).toBe(202);
  return r.body.id as string;
}

const message = async (id: string) => (await send(api(), apiKey, 'GET', `/v1/messages/${id}`)).body;
const waitStatus = (id: string, status: string, timeoutMs = 60_000) =>
  waitFor(
    () => message(id),
    (m) => m.status === status,
    timeoutMs,
  );

async function setRuntime(patch: Record<string, unknown>): Promise<void> {
  const r = await send(api(), ADMIN, 'PUT', '/v1/admin/config', patch);
  expect(r.status).toBe(200);
  const version = r.body.version as number;
  // Every worker applies it within 2 s; wait until they report it.
  await Promise.all(
    stack.workers.map((w) =>
      waitFor(
        () => fetch(`${w.url}/metrics`).then((x) => x.text()),
        (text) => new RegExp(`^esh3ar_runtime_config_version\\{[^}]*\\} ${version}$`, 'm').test(text),
      ),
    ),
  );
}

beforeAll(async () => {
  sim = await startApp('provider-sim', { PROVIDER_SIM_PORT: '0' });
  stack = await startStack('providers', {
    workers: 2,
    env: {
      ADMIN_TOKEN: ADMIN,
      PROVIDER_BASE_URL: sim.url,
      PROVIDER_TIMEOUT_MS: '1000',
      WORKER_RETRY_BASE_MS: '50',
      WORKER_RETRY_MAX_MS: '400',
      WORKER_LOCK_DURATION_MS: '2000',
      WORKER_BATCH_TIMEOUT_MS: '5',
    },
  });
  ({ apiKey } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 }));
  await setRuntime({ breaker: { failureThreshold: 3, halfOpenAfterMs: 1000 }, worker: { maxAttempts: 5 } });
});
afterAll(async () => {
  await stack?.close();
  await sim?.stop();
});
beforeEach(async () => {
  await send(sim.url, null, 'DELETE', '/control');
});

describe('sms, whatsapp and email through providers', () => {
  it('hands a message to its provider once and marks it sent, with the provider’s id in the history', async () => {
    const phone = newPhone();
    const id = await sendSms(phone, { content: 'tab\tnew\nline مرحبا 😀' });
    const sent = await waitStatus(id, 'sent');
    expect(sent.attempts).toBe(1);
    const got = await received(phone);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ text: 'tab\tnew\nline مرحبا 😀', idempotencyKey: id });
    expect(sent.events.at(-1)).toMatchObject({ status: 'sent', detail: expect.stringContaining(got[0]!.id) });
    const email = await send(api(), apiKey, 'POST', '/v1/messages', {
      recipient: 'a@example.com',
      content: 'hi',
      subject: 'Hello',
      channel: 'email',
    });
    expect((await waitStatus(email.body.id, 'sent')).attempts).toBe(1);
  });

  it('a permanent refusal (4xx) fails the message at once, with the provider’s reason, and no retry', async () => {
    const id = await sendSms('+19995550100');
    const failed = await waitStatus(id, 'failed');
    expect(failed.attempts).toBe(1);
    expect(failed.failureReason).toMatch(/INVALID_RECIPIENT/);
  });

  it('intermittent 50% errors: everything is sent, each message exactly once at the provider', async () => {
    // A budget that 50% failures cannot plausibly exhaust (0.5^30), as an operator would set for a flaky provider.
    await setRuntime({ worker: { maxAttempts: 30 } });
    await control({ channel: 'sms', errorRate: 0.5 });
    const phones = Array.from({ length: 20 }, newPhone);
    const ids = await Promise.all(phones.map((p) => sendSms(p)));
    const all = await waitFor(
      () => Promise.all(ids.map(message)),
      (ms) => ms.every((m) => m.status === 'sent'),
      90_000,
      200,
    );
    expect(all.some((m) => m.attempts > 1)).toBe(true);
    for (const p of phones) expect(await received(p)).toHaveLength(1);
    await setRuntime({ worker: { maxAttempts: 5 } });
  });

  it('a provider that is down: the breaker opens (health, metrics), calls stop, then a probe closes it and all are sent once', async () => {
    await control({ channel: 'whatsapp', down: true });
    const phones = Array.from({ length: 8 }, newPhone);
    const ids = await Promise.all(phones.map((p) => sendSms(p, { channel: 'whatsapp' })));
    // Every worker's breaker open (its own, or another's read from Redis): a send job's
    // calls start together, so a worker that had not seen the breaker open yet may still
    // make a chunk of calls, which the window below must not count.
    await waitFor(
      () => Promise.all(stack.workers.map((w) => send(w.url, null, 'GET', '/health/ready'))),
      (rs) => rs.every((r) => r.body.checks.breakers?.whatsapp === 'open'),
    );
    expect((await send(api(), null, 'GET', '/health/ready')).body.checks.breakers.whatsapp).toBe('open');
    const waiting = await message(ids[0]!);
    expect(waiting.status).toBe('pending');
    expect(JSON.stringify(waiting.events)).toMatch(/circuit is open|attempt failed/);
    // While open, the provider is left alone but for one half-open probe per worker and
    // second; without the breaker, 8 messages retried every 50-400 ms would call ~40 times.
    const calls = async () => (await send(sim.url, null, 'GET', '/stats')).body.whatsapp.failedInjected as number;
    const before = await calls();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await calls()) - before).toBeLessThanOrEqual(2 * stack.workers.length);
    await control({ channel: 'whatsapp', down: false });
    await waitFor(
      () => Promise.all(ids.map(message)),
      (ms) => ms.every((m) => m.status === 'sent'),
      60_000,
      200,
    );
    for (const p of phones) expect(await received(p)).toHaveLength(1);
    // Closed where the probe succeeded. A worker that took none of the messages since keeps
    // its breaker open until its own next call probes: with send jobs of many messages, one
    // worker often takes them all.
    await waitFor(
      () => Promise.all(stack.workers.map((w) => send(w.url, null, 'GET', '/health/ready'))),
      (rs) => rs.some((r) => r.body.checks.breakers?.whatsapp === 'closed'),
    );
    const metrics = await Promise.all(stack.workers.map((w) => fetch(`${w.url}/metrics`).then((r) => r.text())));
    expect(metrics.join('\n')).toMatch(/^esh3ar_provider_sends_total\{channel="whatsapp",outcome="circuit_open"/m);
  });
});

describe('dead letters', () => {
  it('retries until worker.maxAttempts, then dead_letter with the last error and moved_to_dlq_at', async () => {
    await control({ channel: 'email', errorRate: 1, errorStatus: 500 });
    const r = await send(api(), apiKey, 'POST', '/v1/messages', { recipient: 'dead@example.com', content: 'x', channel: 'email' });
    const dead = await waitStatus(r.body.id, 'dead_letter');
    expect(dead.attempts).toBe(5);
    expect(dead.failureReason).toMatch(/500/);
    expect(dead.events.filter((e: { detail: string }) => /^attempt failed/.test(e.detail ?? ''))).toHaveLength(5);
    expect(dead.events.at(-1)).toMatchObject({ status: 'dead_letter', detail: expect.stringContaining('5 attempts failed') });

    // Listed, filtered, then replayed once the provider recovers: sent, with the history kept.
    const listed = await send(api(), ADMIN, 'GET', '/v1/admin/dlq?channel=email&error=500');
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([
      expect.objectContaining({ id: r.body.id, channel: 'email', attempts: 5, failureReason: expect.stringMatching(/500/) }),
    ]);
    expect((await send(api(), ADMIN, 'GET', '/v1/admin/dlq?channel=sms')).body.items.map((d: { id: string }) => d.id)).not.toContain(
      r.body.id,
    );
    expect((await send(api(), apiKey, 'GET', '/v1/admin/dlq')).status).toBe(401);
    expect((await send(api(), ADMIN, 'GET', '/v1/admin/dlq?channel=pigeon')).status).toBe(400);
    await send(sim.url, null, 'DELETE', '/control');
    const replay = await send(api(), ADMIN, 'POST', '/v1/admin/dlq/replay', { ids: [r.body.id] });
    expect(replay.body).toEqual({ replayed: 1, ids: [r.body.id] });
    const sent = await waitStatus(r.body.id, 'sent');
    expect(sent.attempts).toBe(6);
    expect(sent.events.map((e: { status: string }) => e.status)).toEqual(expect.arrayContaining(['dead_letter', 'pending', 'sent']));
    expect(await received('dead@example.com')).toHaveLength(1);
    expect((await send(api(), ADMIN, 'GET', '/v1/admin/dlq?channel=email')).body.items.map((d: { id: string }) => d.id)).not.toContain(
      r.body.id,
    );
  });
});

describe('crashes', () => {
  it('a worker SIGKILLed mid-send: nothing lost, nothing sent twice', async () => {
    await control({ channel: 'sms', latencyMs: 400 });
    const phones = Array.from({ length: 12 }, newPhone);
    const ids = await Promise.all(phones.map((p) => sendSms(p)));
    // Kill a worker while the provider holds its calls (accepted, answer not yet back).
    await waitFor(
      () => send(sim.url, null, 'GET', '/stats'),
      (r) => r.body.sms.accepted > 0,
      30_000,
      20,
    );
    const victim = stack.workers[0]!;
    await victim.stop('SIGKILL');
    stack.workers.splice(0, 1);
    await stack.startWorker();
    await waitFor(
      () => Promise.all(ids.map(message)),
      (ms) => ms.every((m) => m.status === 'sent'),
      90_000,
      200,
    );
    for (const p of phones) expect(await received(p)).toHaveLength(1);
  });
});

describe('fallback', () => {
  it('an app message no device acknowledges within fallbackAfterSeconds goes out by SMS instead', async () => {
    const phone = newPhone();
    const r = await send(api(), apiKey, 'POST', '/v1/messages', {
      recipient: phone,
      content: 'your code is 1234',
      fallback: 'sms',
      fallbackAfterSeconds: 1,
    });
    const sent = await waitStatus(r.body.id, 'sent');
    expect(sent.channel).toBe('app');
    expect(sent.events.at(-1).detail).toMatch(/sent by sms/);
    expect(await received(phone)).toHaveLength(1);
  });
});
