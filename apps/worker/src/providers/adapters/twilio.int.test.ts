import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { sampleBufferedMessage, type SendMessage } from '@esh3ar/contracts';
import { send, startApp, type AppProcess } from '@esh3ar/stack';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ProviderAdapter, SendRequest } from './adapter.ts';
import { createTwilioAdapter, twilioStatusCallbackUrl, type TwilioSettings } from './twilio.ts';

// The Twilio adapter against provider-sim's Twilio Messages API (a process: one app does
// not import another's code), with a local server standing in for the api's receipt route.
const SID = `AC${'1f'.repeat(16)}`;
const TOKEN = 'adapter-test-token';

let sim: AppProcess;
let receipts: Server;
let publicBaseUrl: string;
let adapter: ProviderAdapter;
const logs: Record<string, unknown>[] = [];
const waiters: ((receipt: { url: string; headers: IncomingHttpHeaders; fields: Record<string, string> }) => void)[] = [];

const settings = (over: Partial<TwilioSettings> = {}): TwilioSettings => ({
  accountSid: SID,
  authToken: TOKEN,
  from: '+15017122661',
  whatsappFrom: '+14155238886',
  baseUrl: sim.url,
  ...over,
});
const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) });

function request(channel: 'sms' | 'whatsapp', recipient = '+966501234567', validityPeriodSeconds: number | null = 600): SendRequest {
  const { id, tenantId, subject, content, priority, acceptedAt } = sampleBufferedMessage({ content: `hello ${Math.random()}` });
  const message: SendMessage = { id, tenantId, recipient, subject, content, priority, acceptedAt };
  return { channel, message, validityPeriodSeconds };
}
const control = (change: Record<string, unknown>) => send(sim.url, null, 'PUT', '/control', change);
const received = async () => (await send(sim.url, null, 'GET', '/received')).body.items as Record<string, unknown>[];
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.unreachable('the call succeeded'),
    (error: unknown) => error as { code: string; message: string; retryAfterMs?: number },
  );

beforeAll(async () => {
  receipts = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      res.writeHead(204).end();
      const receipt = {
        url: req.url ?? '',
        headers: req.headers,
        fields: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString())),
      };
      for (const wake of waiters.splice(0)) wake(receipt);
    });
  });
  receipts.listen(0, '127.0.0.1');
  await once(receipts, 'listening');
  publicBaseUrl = `http://127.0.0.1:${(receipts.address() as { port: number }).port}`;
  sim = await startApp('provider-sim', {
    PROVIDER_SIM_PORT: '0',
    PROVIDER_SIM_TWILIO_ACCOUNT_SID: SID,
    PROVIDER_SIM_TWILIO_AUTH_TOKEN: TOKEN,
    PROVIDER_SIM_RECEIPT_DELAY_MS: '0',
  });
  adapter = createTwilioAdapter(settings(), { statusCallbackUrl: twilioStatusCallbackUrl(publicBaseUrl), connections: 4, logger });
});

afterAll(async () => {
  await adapter?.close();
  await sim?.stop();
  receipts?.close();
});

beforeEach(async () => {
  await send(sim.url, null, 'DELETE', '/control');
  await send(sim.url, null, 'DELETE', '/received');
  logs.length = 0;
});

describe('the twilio adapter', () => {
  it('sends an SMS and a WhatsApp message, and answers with the Message SID', async () => {
    const sms = request('sms');
    const whatsapp = request('whatsapp');
    const sent = [await adapter.send(sms, AbortSignal.timeout(5000)), await adapter.send(whatsapp, AbortSignal.timeout(5000))];
    for (const s of sent) expect(s.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
    expect((await received()).map((i) => [i.id, i.channel, i.to, i.text])).toEqual([
      [sent[0]!.providerMessageId, 'sms', '+966501234567', sms.message.content],
      [sent[1]!.providerMessageId, 'whatsapp', '+966501234567', whatsapp.message.content],
    ]);
  });

  it("has the status callback signed with the account's token reach PUBLIC_BASE_URL's receipt route", async () => {
    const arrived = new Promise<Parameters<(typeof waiters)[number]>[0]>((resolve) => waiters.push(resolve));
    const { providerMessageId } = await adapter.send(request('whatsapp'), AbortSignal.timeout(5000));
    const receipt = await arrived;
    expect(receipt.url).toBe('/v1/providers/twilio/status');
    expect(receipt.fields).toMatchObject({
      MessageSid: providerMessageId,
      MessageStatus: 'delivered',
      AccountSid: SID,
      To: 'whatsapp:+966501234567',
    });
    const url = `${publicBaseUrl}/v1/providers/twilio/status`;
    const signed = Object.keys(receipt.fields)
      .sort()
      .reduce((text, name) => text + name + receipt.fields[name], url);
    expect(receipt.headers['x-twilio-signature']).toBe(createHmac('sha1', TOKEN).update(signed).digest('base64'));
  });

  it('sends through a Messaging Service when TWILIO_FROM is one', async () => {
    const service = createTwilioAdapter(settings({ from: `MG${'2e'.repeat(16)}` }), { statusCallbackUrl: null, connections: 1, logger });
    try {
      expect((await service.send(request('sms'), AbortSignal.timeout(5000))).providerMessageId).toMatch(/^SM/);
    } finally {
      await service.close();
    }
  });

  it('an invalid number (21211) is REJECTED: the message fails for good, with Twilio’s reason', async () => {
    const error = await failure(adapter.send(request('sms', '+19995550100'), AbortSignal.timeout(5000)));
    expect(error.code).toBe('REJECTED');
    expect(error.message).toMatch(/^twilio refused the message \(400, 21211\): The 'To' number \+19995550100 is not a valid phone number/);
    expect(await received()).toEqual([]);
  });

  it('a 429 (20429) is RATE_LIMITED with its Retry-After', async () => {
    await control({ channel: 'sms', errorRate: 1, errorStatus: 429, retryAfterSeconds: 7 });
    const error = await failure(adapter.send(request('sms'), AbortSignal.timeout(5000)));
    expect([error.code, error.retryAfterMs]).toEqual(['RATE_LIMITED', 7000]);
  });

  it('5xx, a channel that is down and an unreachable Twilio are UNAVAILABLE', async () => {
    await control({ channel: 'whatsapp', errorRate: 1, errorStatus: 500 });
    expect((await failure(adapter.send(request('whatsapp'), AbortSignal.timeout(5000)))).code).toBe('UNAVAILABLE');
    await control({ channel: 'whatsapp', down: true });
    expect((await failure(adapter.send(request('whatsapp'), AbortSignal.timeout(5000)))).code).toBe('UNAVAILABLE');
    const nowhere = createTwilioAdapter(settings({ baseUrl: 'http://127.0.0.1:9' }), { statusCallbackUrl: null, connections: 1, logger });
    try {
      const error = await failure(nowhere.send(request('sms'), AbortSignal.timeout(5000)));
      expect([error.code, error.message]).toEqual(['UNAVAILABLE', expect.stringContaining('twilio (sms) unreachable')]);
    } finally {
      await nowhere.close();
    }
  });

  it('no answer before the signal aborts is TIMEOUT (and Twilio may still have taken it)', async () => {
    await control({ channel: 'sms', latencyMs: 10_000 });
    const error = await failure(adapter.send(request('sms'), AbortSignal.timeout(200)));
    expect(error.code).toBe('TIMEOUT');
    expect(await received()).toHaveLength(1);
  });

  it('wrong credentials are UNAVAILABLE (the account is at fault, not the message), logged to check TWILIO_AUTH_TOKEN', async () => {
    const wrong = createTwilioAdapter(settings({ authToken: 'not-the-token' }), { statusCallbackUrl: null, connections: 1, logger });
    try {
      const error = await failure(wrong.send(request('sms'), AbortSignal.timeout(5000)));
      expect([error.code, error.message]).toEqual(['UNAVAILABLE', 'twilio refused our account (401, 20003): Authenticate']);
    } finally {
      await wrong.close();
    }
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 50, msg: 'Twilio refused our account: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN' }),
    );
    expect(await received()).toEqual([]);
  });
});
