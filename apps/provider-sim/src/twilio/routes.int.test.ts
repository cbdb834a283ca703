import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../app.ts';
import { readReceiptOutcomes } from './receipt-outcomes.ts';

const SID = `AC${'1f'.repeat(16)}`;
const TOKEN = 'test-auth-token';
const PHONE = '+966501234567';
const SENDER = '+15017122661';
const SERVICE = `MG${'2e'.repeat(16)}`;
const PATH = `/2010-04-01/Accounts/${SID}/Messages.json`;

interface Callback {
  url: string;
  headers: IncomingHttpHeaders;
  fields: Record<string, string>;
}

let app: FastifyInstance;
let callbacks: Server;
let callbackUrl: string;
const received: Callback[] = [];
let waiters: ((callback: Callback) => void)[] = [];
/** The draws of the receipts' statuses (errorRate stays 0 in these tests but where set, so faults draw nothing). */
let draws: number[] = [];

const nextCallback = () => new Promise<Callback>((resolve) => waiters.push(resolve));
const basic = (sid = SID, token = TOKEN) => `Basic ${Buffer.from(`${sid}:${token}`).toString('base64')}`;

function create(fields: Record<string, string>, options: { path?: string; authorization?: string | null } = {}) {
  const authorization = options.authorization === undefined ? basic() : options.authorization;
  return app.inject({
    method: 'POST',
    url: options.path ?? PATH,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization === null ? {} : { authorization }) },
    payload: new URLSearchParams(fields).toString(),
  });
}
const sms = (over: Record<string, string> = {}) => ({ To: PHONE, From: SENDER, Body: 'Your code is 1234', ...over });
const items = async () => (await app.inject({ method: 'GET', url: '/received' })).json().items as Record<string, unknown>[];
const control = (change: Record<string, unknown>) => app.inject({ method: 'PUT', url: '/control', payload: change });

/** Twilio's signature, computed here from its documentation rather than with the simulator's code. */
function expectedSignature(url: string, fields: Record<string, string>): string {
  const signed = Object.entries(fields)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .reduce((text, [name, value]) => text + name + value, url);
  return createHmac('sha1', TOKEN).update(signed).digest('base64');
}

beforeAll(async () => {
  callbacks = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const callback = {
        url: request.url ?? '',
        headers: request.headers,
        fields: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))),
      };
      received.push(callback);
      response.writeHead(200).end();
      for (const wake of waiters.splice(0)) wake(callback);
    });
  });
  callbacks.listen(0, '127.0.0.1');
  await once(callbacks, 'listening');
  callbackUrl = `http://127.0.0.1:${(callbacks.address() as { port: number }).port}/v1/providers/twilio/status`;
  app = await buildApp({
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    limits: { maxItems: 1000, maxChars: 1_000_000 },
    random: () => draws.shift() ?? 0,
    twilio: { accountSid: SID, authToken: TOKEN },
    meta: { token: 'meta-token', appSecret: 'meta-secret', webhookUrl: null },
    receipts: { delayMs: 0, outcomes: readReceiptOutcomes({ OUTCOMES: 'delivered=1,undelivered=1,failed=1' }, 'OUTCOMES') },
  });
});

afterAll(async () => {
  await app?.close();
  callbacks?.close();
});

beforeEach(async () => {
  await app.inject({ method: 'DELETE', url: '/control' });
  await app.inject({ method: 'DELETE', url: '/received' });
  received.length = 0;
  waiters = [];
  draws = [];
});

describe('POST /2010-04-01/Accounts/:sid/Messages.json', () => {
  it("answers 201 with Twilio's Message resource and records the SMS for GET /received", async () => {
    const r = await create(sms({ ValidityPeriod: '600', Ignored: 'x' }));
    expect(r.statusCode).toBe(201);
    const body = r.json();
    expect(body).toMatchObject({
      account_sid: SID,
      api_version: '2010-04-01',
      body: 'Your code is 1234',
      direction: 'outbound-api',
      error_code: null,
      from: SENDER,
      messaging_service_sid: null,
      num_segments: '1',
      status: 'queued',
      to: PHONE,
      uri: `/2010-04-01/Accounts/${SID}/Messages/${body.sid}.json`,
    });
    expect(body.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(body.date_created).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
    expect(await items()).toEqual([
      {
        id: body.sid,
        channel: 'sms',
        to: PHONE,
        text: 'Your code is 1234',
        subject: null,
        idempotencyKey: body.sid,
        receivedAt: expect.any(String),
      },
    ]);
  });

  it('sends WhatsApp by the whatsapp: address, and picks the sender itself for a Messaging Service', async () => {
    const whatsapp = await create({ To: `whatsapp:${PHONE}`, From: `whatsapp:${SENDER}`, Body: 'مرحبا 👋' });
    expect(whatsapp.statusCode).toBe(201);
    expect(whatsapp.json()).toMatchObject({ to: `whatsapp:${PHONE}`, from: `whatsapp:${SENDER}`, status: 'queued' });
    const service = await create({ To: PHONE, MessagingServiceSid: SERVICE, Body: 'x' });
    expect(service.statusCode).toBe(201);
    expect(service.json()).toMatchObject({ from: null, messaging_service_sid: SERVICE, status: 'accepted' });
    expect((await items()).map((i) => [i.channel, i.to, i.text])).toEqual([
      ['whatsapp', PHONE, 'مرحبا 👋'],
      ['sms', PHONE, 'x'],
    ]);
  });

  it('records each create as a message of its own, repeats included: Twilio has no idempotency key', async () => {
    const first = await create(sms());
    const repeat = await create(sms());
    expect([first.statusCode, repeat.statusCode]).toEqual([201, 201]);
    expect(repeat.json().sid).not.toBe(first.json().sid);
    expect(await items()).toHaveLength(2);
  });

  it.each([
    ['a wrong token', { authorization: basic(SID, 'wrong') }],
    ['no credentials', { authorization: null }],
    ['another account in the path', { path: `/2010-04-01/Accounts/AC${'0'.repeat(32)}/Messages.json` }],
  ])('answers 401 20003 to %s and records nothing', async (_case, options) => {
    const r = await create(sms(), options);
    expect(r.statusCode).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Basic realm="Twilio API"');
    expect(r.json()).toEqual({ code: 20003, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 });
    expect(await items()).toEqual([]);
  });

  it.each([
    ['no To', { To: '' }, 21604],
    ['no From nor MessagingServiceSid', { From: '' }, 21603],
    ['a malformed MessagingServiceSid', { From: '', MessagingServiceSid: 'MG123' }, 21701],
    ['no Body', { Body: '' }, 21602],
    ['a Body over 1600 characters', { Body: 'x'.repeat(1601) }, 21617],
    ['ValidityPeriod 0', { ValidityPeriod: '0' }, 21624],
    ['ValidityPeriod 36001', { ValidityPeriod: '36001' }, 21624],
    ['ValidityPeriod 1.5', { ValidityPeriod: '1.5' }, 21624],
    ['a StatusCallback that is not a URL', { StatusCallback: 'not a url' }, 21609],
    ['a To that is not E.164', { To: '966501234567' }, 21211],
    ["the simulator's always-invalid prefix", { To: '+19995550100' }, 21211],
    ['a WhatsApp To that is not E.164', { To: 'whatsapp:0501234567', From: `whatsapp:${SENDER}` }, 21211],
    ['From and To on different channels', { From: `whatsapp:${SENDER}` }, 21910],
  ])("refuses %s with 400 and Twilio's code, and records nothing", async (_case, over, code) => {
    const r = await create(sms(over));
    expect(r.statusCode).toBe(400);
    expect(r.json()).toEqual({ code, message: expect.any(String), more_info: `https://www.twilio.com/docs/errors/${code}`, status: 400 });
    expect(await items()).toEqual([]);
  });
});

describe('fault injection', () => {
  it("answers an injected 429 with 20429 and Retry-After on the To's channel only", async () => {
    await control({ channel: 'whatsapp', errorRate: 1, errorStatus: 429, retryAfterSeconds: 7 });
    draws = [0];
    const limited = await create({ To: `whatsapp:${PHONE}`, From: `whatsapp:${SENDER}`, Body: 'x' });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('7');
    expect(limited.json()).toMatchObject({ code: 20429, status: 429 });
    expect((await create(sms())).statusCode).toBe(201);
    expect((await items()).map((i) => i.channel)).toEqual(['sms']);
  });

  it.each([
    [500, 20500],
    [502, 20500],
    [503, 20503],
    [504, 20500],
  ])('answers an injected %i with code %i and records nothing', async (status, code) => {
    await control({ errorRate: 1, errorStatus: status });
    draws = [0];
    const r = await create(sms());
    expect(r.statusCode).toBe(status);
    expect(r.json()).toMatchObject({ code, status });
    expect(await items()).toEqual([]);
  });

  it('a channel that is down answers 503 20503 at once, whatever the credentials', async () => {
    await control({ channel: 'sms', down: true, latencyMs: 60_000 });
    const r = await create(sms(), { authorization: null });
    expect(r.statusCode).toBe(503);
    expect(r.json()).toMatchObject({ code: 20503, status: 503 });
  });
});

describe('status callbacks', () => {
  it('POSTs the status to the StatusCallback, query string included, signed with X-Twilio-Signature', async () => {
    const url = `${callbackUrl}?tenant=t%201&b=2`;
    const arrived = nextCallback();
    const r = await create(sms({ StatusCallback: url }));
    const sid = r.json().sid as string;
    const callback = await arrived;
    expect(callback.url).toBe('/v1/providers/twilio/status?tenant=t%201&b=2');
    expect(callback.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(callback.fields).toEqual({
      AccountSid: SID,
      ApiVersion: '2010-04-01',
      From: SENDER,
      MessageSid: sid,
      MessageStatus: 'delivered',
      SmsSid: sid,
      SmsStatus: 'delivered',
      To: PHONE,
    });
    expect(callback.headers['x-twilio-signature']).toBe(expectedSignature(url, callback.fields));
    expect(callback.headers['x-twilio-signature']).not.toBe(expectedSignature(callbackUrl, callback.fields));
  });

  it('draws the status from PROVIDER_SIM_RECEIPT_OUTCOMES, with ErrorCode when not delivered', async () => {
    const statuses: Record<string, string>[] = [];
    for (const draw of [0.5, 0.9]) {
      draws = [draw];
      const arrived = nextCallback();
      await create({ To: `whatsapp:${PHONE}`, MessagingServiceSid: SERVICE, Body: 'x', StatusCallback: callbackUrl });
      statuses.push((await arrived).fields);
    }
    expect(statuses.map((f) => [f.MessageStatus, f.ErrorCode, f.From, f.To])).toEqual([
      ['undelivered', '30003', 'whatsapp:+15005550006', `whatsapp:${PHONE}`],
      ['failed', '30008', 'whatsapp:+15005550006', `whatsapp:${PHONE}`],
    ]);
    for (const fields of statuses)
      expect(received.find((c) => c.fields === fields)!.headers['x-twilio-signature']).toBe(expectedSignature(callbackUrl, fields));
  });

  it('sends no callback for a refused message or one without StatusCallback', async () => {
    expect((await create(sms({ To: '+19995550100', StatusCallback: callbackUrl }))).statusCode).toBe(400);
    expect((await create(sms())).statusCode).toBe(201);
    // A callback for the accepted one below is the first to arrive, so none came for the two above.
    const arrived = nextCallback();
    const last = await create(sms({ StatusCallback: callbackUrl }));
    expect((await arrived).fields.MessageSid).toBe(last.json().sid);
    expect(received).toHaveLength(1);
  });
});
