import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../app.ts';
import { readReceiptOutcomes } from '../twilio/receipt-outcomes.ts';

const TOKEN = 'test-meta-token';
const SECRET = 'test-app-secret';
const PHONE_NUMBER_ID = '106540352242922';
const PATH = `/v21.0/${PHONE_NUMBER_ID}/messages`;
const PHONE = '+966501234567';

interface Webhook {
  url: string;
  headers: IncomingHttpHeaders;
  raw: Buffer;
  json: { entry: { changes: { field: string; value: { metadata: unknown; statuses: Record<string, unknown>[] } }[] }[] };
}

let app: FastifyInstance;
let webhooks: Server;
const received: Webhook[] = [];
let waiters: (() => boolean)[] = [];
/** The draws of the outcomes (errorRate stays 0 but where set, so faults draw nothing). */
let draws: number[] = [];

/** Resolves with the first `count` webhooks about message `id`, in arrival order (they may come before its send resolves). */
function webhooksFor(id: string, count: number): Promise<Webhook[]> {
  return new Promise((resolve) => {
    const check = () => {
      const about = received.filter((w) => status(w).id === id);
      if (about.length < count) return false;
      resolve(about.slice(0, count));
      return true;
    };
    if (!check()) waiters.push(check);
  });
}

function sendMessage(body: unknown, options: { path?: string; authorization?: string | null } = {}) {
  const authorization = options.authorization === undefined ? `Bearer ${TOKEN}` : options.authorization;
  return app.inject({
    method: 'POST',
    url: options.path ?? PATH,
    headers: { 'content-type': 'application/json', ...(authorization === null ? {} : { authorization }) },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
const text = (over: Record<string, unknown> = {}) => ({
  messaging_product: 'whatsapp',
  recipient_type: 'individual',
  to: PHONE,
  type: 'text',
  text: { body: 'Your code is 1234' },
  ...over,
});
const items = async () => (await app.inject({ method: 'GET', url: '/received' })).json().items as Record<string, unknown>[];
const control = (change: Record<string, unknown>) => app.inject({ method: 'PUT', url: '/control', payload: change });
const status = (webhook: Webhook) => webhook.json.entry[0]!.changes[0]!.value.statuses[0]!;

beforeAll(async () => {
  webhooks = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks);
      received.push({ url: request.url ?? '', headers: request.headers, raw, json: JSON.parse(raw.toString('utf8')) as Webhook['json'] });
      response.writeHead(200).end();
      waiters = waiters.filter((check) => !check());
    });
  });
  webhooks.listen(0, '127.0.0.1');
  await once(webhooks, 'listening');
  app = await buildApp({
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    limits: { maxItems: 1000, maxChars: 1_000_000 },
    random: () => draws.shift() ?? 0,
    twilio: { accountSid: `AC${'1f'.repeat(16)}`, authToken: 'twilio-token' },
    meta: {
      token: TOKEN,
      appSecret: SECRET,
      webhookUrl: `http://127.0.0.1:${(webhooks.address() as { port: number }).port}/v1/providers/meta/webhook`,
    },
    receipts: { delayMs: 0, outcomes: readReceiptOutcomes({ OUTCOMES: 'delivered=1,undelivered=1,failed=1' }, 'OUTCOMES') },
  });
});

afterAll(async () => {
  await app?.close();
  webhooks?.close();
});

beforeEach(async () => {
  await app.inject({ method: 'DELETE', url: '/control' });
  await app.inject({ method: 'DELETE', url: '/received' });
  draws = [];
});

describe('POST /:version/:phoneNumberId/messages', () => {
  it("accepts a text message with Meta's answer, and records it on channel whatsapp", async () => {
    const r = await sendMessage(text());
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body).toEqual({
      messaging_product: 'whatsapp',
      contacts: [{ input: PHONE, wa_id: '966501234567' }],
      messages: [{ id: expect.stringMatching(/^wamid\.[A-Za-z0-9+/]+=*$/) }],
    });
    const id = body.messages[0].id as string;
    expect(Buffer.from(id.slice('wamid.'.length), 'base64').toString('latin1')).toContain('966501234567');
    expect((await items()).map((i) => [i.id, i.channel, i.to, i.text])).toEqual([[id, 'whatsapp', PHONE, 'Your code is 1234']]);
  });

  it('takes `to` without the plus and with spaces, hyphens and parentheses, type defaulting to text', async () => {
    const r = await sendMessage({ messaging_product: 'whatsapp', to: '966 (50) 123-4567', text: { body: 'x' } });
    expect(r.statusCode).toBe(200);
    expect(r.json().contacts).toEqual([{ input: '966 (50) 123-4567', wa_id: '966501234567' }]);
    expect((await items()).map((i) => i.to)).toEqual([PHONE]);
  });

  it('answers 401 with code 190 for a missing or wrong token, and records nothing', async () => {
    for (const authorization of [null, `Bearer ${TOKEN}x`, TOKEN]) {
      const r = await sendMessage(text(), { authorization });
      expect(r.statusCode).toBe(401);
      expect(r.headers['www-authenticate']).toMatch(/^OAuth "Facebook Platform" "invalid_token"/);
      expect(r.json()).toEqual({
        error: {
          message: '(#190) Invalid OAuth access token - Cannot parse access token',
          type: 'OAuthException',
          code: 190,
          fbtrace_id: expect.any(String),
        },
      });
    }
    expect(await items()).toEqual([]);
  });

  it.each([
    ['a to that is not a phone number', text({ to: '0501234567x' }), 100],
    ['a number on the permanent-failure prefix', text({ to: '+19995550100' }), 131026],
    ['a type other than text', text({ type: 'image', image: { id: '1' } }), 131051],
    ['no text body', text({ text: {} }), 100],
    ['a body over 4096 characters', text({ text: { body: 'x'.repeat(4097) } }), 100],
    ['another messaging_product', text({ messaging_product: 'sms' }), 100],
    ['a body that is not JSON', '{"to":', 100],
  ])("refuses %s with 400 and Meta's code %i", async (_case, body, code) => {
    const r = await sendMessage(body);
    expect(r.statusCode).toBe(400);
    expect(r.json()).toEqual({
      error: {
        message: expect.stringMatching(new RegExp(`^\\(#${code}\\) `)),
        type: 'OAuthException',
        code,
        error_data: { messaging_product: 'whatsapp', details: expect.any(String) },
        fbtrace_id: expect.any(String),
      },
    });
    expect(await items()).toEqual([]);
  });

  it('refuses a phone number ID that is not one with code 100 and subcode 33, and an unknown version with 404', async () => {
    const r = await sendMessage(text(), { path: '/v21.0/my-number/messages' });
    expect([r.statusCode, r.json().error.code, r.json().error.error_subcode]).toEqual([400, 100, 33]);
    expect((await sendMessage(text(), { path: `/latest/${PHONE_NUMBER_ID}/messages` })).statusCode).toBe(404);
    // provider-sim's own protocol still answers beside the Graph route.
    const own = await app.inject({
      method: 'POST',
      url: '/v1/whatsapp/send',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'k1' },
      payload: { to: PHONE, text: 'x' },
    });
    expect(own.statusCode).toBe(200);
  });
});

describe('fault injection', () => {
  it.each([
    [429, 130429],
    [500, 131000],
    [502, 131000],
    [503, 131016],
    [504, 131000],
  ])("answers an injected %i with Meta's code %i, no Retry-After, and records nothing", async (injected, code) => {
    await control({ channel: 'whatsapp', errorRate: 1, errorStatus: injected });
    draws = [0];
    const r = await sendMessage(text());
    expect(r.statusCode).toBe(injected);
    expect(r.headers['retry-after']).toBeUndefined();
    expect(r.json().error.code).toBe(code);
    expect(await items()).toEqual([]);
  });

  it('answers 503 131016 at once while whatsapp is down, whatever the token', async () => {
    await control({ channel: 'whatsapp', down: true, latencyMs: 60_000 });
    const r = await sendMessage(text(), { authorization: null });
    expect([r.statusCode, r.json().error.code]).toEqual([503, 131016]);
  });
});

describe('status webhooks', () => {
  const accepted = async (body = text()) => (await sendMessage(body)).json().messages[0].id as string;
  const errorCode = (w: Webhook) => (status(w).errors as { code: number }[] | undefined)?.[0]?.code;

  it('POSTs sent then delivered as whatsapp_business_account payloads, signed with X-Hub-Signature-256 over the raw body', async () => {
    const id = await accepted();
    const [sent, delivered] = await webhooksFor(id, 2);
    for (const webhook of [sent!, delivered!]) {
      expect(webhook.url).toBe('/v1/providers/meta/webhook');
      expect(webhook.headers['content-type']).toBe('application/json');
      expect(webhook.headers['x-hub-signature-256']).toBe(`sha256=${createHmac('sha256', SECRET).update(webhook.raw).digest('hex')}`);
      expect(webhook.json).toMatchObject({ object: 'whatsapp_business_account', entry: [{ changes: [{ field: 'messages' }] }] });
      expect(webhook.json.entry[0]!.changes[0]!.value.metadata).toMatchObject({ phone_number_id: PHONE_NUMBER_ID });
    }
    expect([status(sent!), status(delivered!)]).toEqual([
      expect.objectContaining({ id, status: 'sent', recipient_id: '966501234567', timestamp: expect.stringMatching(/^\d{10}$/) }),
      expect.objectContaining({ id, status: 'delivered', recipient_id: '966501234567', pricing: expect.any(Object) }),
    ]);
  });

  it('draws the outcome from PROVIDER_SIM_RECEIPT_OUTCOMES: undelivered is sent then failed (131026), failed is failed (131000)', async () => {
    draws = [0.5];
    const undelivered = await webhooksFor(await accepted(), 2);
    expect(undelivered.map((w) => [status(w).status, errorCode(w)])).toEqual([
      ['sent', undefined],
      ['failed', 131026],
    ]);
    draws = [0.9];
    const [failed] = await webhooksFor(await accepted(), 1);
    expect(status(failed!)).toMatchObject({
      status: 'failed',
      errors: [{ code: 131000, title: 'Something went wrong', error_data: { details: expect.any(String) } }],
    });
  });

  it('sends no webhook for a refused message', async () => {
    expect((await sendMessage(text({ to: '+19995550100' }))).statusCode).toBe(400);
    // Scheduled after the refusal with the same delay, these come after any webhook it would have caused.
    await webhooksFor(await accepted(text({ to: '+966501234568' })), 2);
    expect(received.map((w) => status(w).recipient_id)).not.toContain('19995550100');
  });
});
