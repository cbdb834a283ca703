import { send, startApp, startStack, waitFor, type AppProcess, type Stack } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unknownDetail } from './send-outcome.ts';

/**
 * A worker SIGKILLed while Twilio holds its calls (provider-sim speaking Twilio's API, which,
 * like Twilio, accepts a message before it answers and has no idempotency key): another
 * worker takes the job over and calls none of those messages again. Processes, because the
 * crash is the point.
 */
const SID = `AC${'3d'.repeat(16)}`;
const TOKEN = 'send-crash-token';
/** The workers' settings (the api's are the stack's: it has no Twilio receipts to check here). */
const WORKER_ENV = {
  SMS_PROVIDER: 'twilio',
  TWILIO_ACCOUNT_SID: SID,
  TWILIO_AUTH_TOKEN: TOKEN,
  TWILIO_FROM: '+15017122661',
  TWILIO_RATE_PER_SECOND: 'unlimited',
  // A killed worker's job is taken over within ~2 s, its claims lapse after 4 × 1 s + 1 s.
  PROVIDER_TIMEOUT_MS: '1000',
  WORKER_LOCK_DURATION_MS: '2000',
};
let stack: Stack;
let sim: AppProcess;
let apiKey: string;

beforeAll(async () => {
  sim = await startApp('provider-sim', {
    PROVIDER_SIM_PORT: '0',
    PROVIDER_SIM_TWILIO_ACCOUNT_SID: SID,
    PROVIDER_SIM_TWILIO_AUTH_TOKEN: TOKEN,
  });
  stack = await startStack('send-crash', { env: { WORKER_BATCH_TIMEOUT_MS: '5' } });
  await stack.startWorker({ ...WORKER_ENV, TWILIO_BASE_URL: sim.url });
  ({ apiKey } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 }));
});
afterAll(async () => {
  await stack?.close();
  await sim?.stop();
});

const received = async (): Promise<{ to: string }[]> => (await send(sim.url, null, 'GET', '/received?channel=sms')).body.items;

describe('a worker killed between the provider accepting and the outcome recorded', () => {
  it('sends no message twice through a provider without an idempotency key: those in doubt end sent, with the reason', async () => {
    // Twilio holds each answer 800 ms, after it has accepted the message.
    await send(sim.url, null, 'PUT', '/control', { channel: 'sms', latencyMs: 800 });
    const phones = Array.from({ length: 12 }, (_, i) => `+9665030100${String(i).padStart(2, '0')}`);
    const r = await send(stack.api!.url, apiKey, 'POST', '/v1/messages/batch', {
      messages: phones.map((recipient) => ({ recipient, content: `crash ${recipient}`, channel: 'sms' })),
    });
    expect(r.status).toBe(202);
    const ids = (r.body.results as { id: string }[]).map((i) => i.id);
    await waitFor(
      () => send(sim.url, null, 'GET', '/stats'),
      (s) => s.body.sms.accepted > 0,
      30_000,
      10,
    );
    await stack.workers[0]!.stop('SIGKILL');
    stack.workers.splice(0, 1);
    await send(sim.url, null, 'PUT', '/control', { channel: 'sms', latencyMs: 0 });
    await stack.startWorker({ ...WORKER_ENV, TWILIO_BASE_URL: sim.url });

    const messages = await waitFor(
      () => Promise.all(ids.map(async (id) => (await send(stack.api!.url, apiKey, 'GET', `/v1/messages/${id}`)).body)),
      (ms) => ms.every((m) => m.status === 'sent'),
      60_000,
      200,
    );
    const copies = await received();
    for (const phone of phones) expect(copies.filter((c) => c.to === phone).length, phone).toBeLessThanOrEqual(1);
    const inDoubt = messages.filter((m) => m.events.at(-1).detail === unknownDetail('twilio'));
    // The killed worker had its calls in flight: Twilio had accepted some, and those are in doubt, not sent again.
    expect(inDoubt.length).toBeGreaterThan(0);
    for (const m of messages) {
      const atProvider = copies.filter((c) => c.to === m.recipient).length;
      if (!inDoubt.includes(m)) expect(atProvider, `${m.recipient}: sent once, by the new worker`).toBe(1);
    }
  });
});
