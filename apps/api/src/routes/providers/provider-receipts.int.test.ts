import {
  claimProviderCall,
  createDatabase,
  createTenant,
  recordProviderOutcome,
  setTenantWebhook,
  type ThrowawayDatabase,
} from '@esh3ar/db';
import { deletePrefix, uniquePrefix, uuidv7 } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp } from '../../in-process-app.test-kit.ts';
import { metaReference, twilioReference } from '../../receipts/provider-signatures.test-kit.ts';

/*
 * Delivery receipts through the real app in-process (inject) against real PostgreSQL and
 * Redis: the messages are stored and handed to a provider by the worker's own calls
 * (claimProviderCall, recordProviderOutcome), then the providers' callbacks arrive signed
 * as Twilio and Meta sign them (provider-signatures.test-kit.ts, written apart from the
 * api's verifiers).
 */

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('provider-receipts');
const BASE = 'https://esh3ar.example.com/api';
const TWILIO_PATH = '/v1/providers/twilio/status';
const META_PATH = '/v1/providers/meta/webhook';
const TWILIO_TOKEN = 'twilio-auth-token-0123456789abcdef';
const META_SECRET = 'meta-app-secret-0123456789abcdef';
const VERIFY_TOKEN = 'meta-verify-token';

let db: ThrowawayDatabase;
let app: InProcessApp;
let apiKey: string;
let tenantId: string;

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'provider-receipts');
  app = await startInProcessApp({
    databaseUrl: db.url,
    redisUrl,
    prefix,
    env: { PUBLIC_BASE_URL: `${BASE}/`, TWILIO_AUTH_TOKEN: TWILIO_TOKEN, META_APP_SECRET: META_SECRET, META_WA_VERIFY_TOKEN: VERIFY_TOKEN },
  });
  const created = await createTenant(app.pool, { name: 'provider-receipts', tier: 'enterprise' });
  ({ apiKey } = created);
  tenantId = created.tenant.id;
  await setTenantWebhook(app.pool, tenantId, 'https://hooks.example.com/esh3ar');
});
afterAll(async () => {
  await app?.close();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

let sequence = 0;
const recipient = () => `+96650${String(1_000_000 + (sequence += 1)).slice(-7)}`;

/** A message stored pending, as the persist worker leaves it. */
async function pending(channel: 'sms' | 'whatsapp' = 'sms'): Promise<{ id: string; to: string }> {
  const id = uuidv7();
  const to = recipient();
  await app.pool.query(
    `INSERT INTO messages (id, tenant_id, recipient, channel, priority, content, status, created_at)
     VALUES ($1, $2, $3, $4, 1, 'Your order has shipped', 'pending', now())`,
    [id, tenantId, to, channel],
  );
  return { id, to };
}

async function claim(id: string): Promise<void> {
  expect(await claimProviderCall(app.pool, id, ['pending'], 30_000)).not.toBeNull();
}

async function accepted(id: string, provider: 'twilio' | 'meta', providerMessageId: string): Promise<void> {
  const detail = `accepted by the ${provider} provider (${providerMessageId})`;
  expect(await recordProviderOutcome(app.pool, id, 'sent', { providerMessageId, provider, detail }, ['pending'])).toBe(true);
}

/** A message a provider took: pending, claimed, then its answer recorded. */
async function sent(provider: 'twilio' | 'meta', providerMessageId: string) {
  const message = await pending(provider === 'meta' ? 'whatsapp' : 'sms');
  await claim(message.id);
  await accepted(message.id, provider, providerMessageId);
  return message;
}

const sid = () => `SM${uuidv7().replaceAll('-', '')}`;
const wamid = () => `wamid.${Buffer.from(uuidv7()).toString('base64url')}`;

function twilioFields(messageSid: string, status: string, over: Record<string, string> = {}): Record<string, string> {
  return {
    AccountSid: 'AC0123456789abcdef0123456789abcdef',
    ApiVersion: '2010-04-01',
    From: '+15005550006',
    MessageSid: messageSid,
    MessageStatus: status,
    SmsSid: messageSid,
    SmsStatus: status,
    To: '+966501234567',
    ...over,
  };
}

/** POSTs a status callback as Twilio does: form-encoded, signed over PUBLIC_BASE_URL + path and the fields (unless told otherwise). */
async function twilio(
  fields: Record<string, string>,
  signature: string | null = twilioReference(TWILIO_TOKEN, BASE + TWILIO_PATH, fields),
) {
  return app.app.inject({
    method: 'POST',
    url: TWILIO_PATH,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signature === null ? {} : { 'x-twilio-signature': signature }) },
    payload: new URLSearchParams(fields).toString(),
  });
}

function metaStatus(id: string, status: string, extra: Record<string, unknown> = {}) {
  return { id, status, timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: '966501234567', ...extra };
}

/** A webhook POST with one entry per list of statuses. */
function metaPayload(...entries: unknown[][]) {
  return {
    object: 'whatsapp_business_account',
    entry: entries.map((statuses, i) => ({
      id: `WABA${i}`,
      changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { phone_number_id: '1234' }, statuses } }],
    })),
  };
}

async function meta(body: string, signature: string | null = metaReference(META_SECRET, body)) {
  return app.app.inject({
    method: 'POST',
    url: META_PATH,
    headers: { 'content-type': 'application/json', ...(signature === null ? {} : { 'x-hub-signature-256': signature }) },
    payload: body,
  });
}

async function message(id: string) {
  const r = await app.send(apiKey, 'GET', `/v1/messages/${id}`);
  expect(r.status).toBe(200);
  return r.body as {
    status: string;
    deliveredAt: string | null;
    failureReason: string | null;
    events: { status: string; detail: string | null }[];
  };
}

/** The statuses this message's tenant webhook will be told, in order. */
async function outbox(id: string): Promise<{ status: string; detail: string | null }[]> {
  const { rows } = await app.pool.query<{ status: string; detail: string | null }>(
    'SELECT status, detail FROM webhook_outbox WHERE message_id = $1 ORDER BY id',
    [id],
  );
  return rows;
}

async function counted(provider: string, result: string): Promise<number> {
  const metric = await app.registry.getSingleMetric('esh3ar_provider_receipts_total')!.get();
  return metric.values.find((v) => v.labels.provider === provider && v.labels.result === result)?.value ?? 0;
}

async function ingestAuthRefusals(): Promise<number> {
  const metric = await app.registry.getSingleMetric('esh3ar_messages_refused_total')!.get();
  return metric.values.find((v) => v.labels.reason === 'auth')?.value ?? 0;
}

describe('Twilio status callbacks', () => {
  it('moves a sent message to delivered, seen in its events and its status webhook, with no API key', async () => {
    const providerId = sid();
    const { id } = await sent('twilio', providerId);
    const before = await counted('twilio', 'applied');

    const r = await twilio(twilioFields(providerId, 'delivered'));
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ results: ['applied'] });
    expect(await counted('twilio', 'applied')).toBe(before + 1);

    const view = await message(id);
    expect(view.status).toBe('delivered');
    expect(view.deliveredAt).not.toBeNull();
    expect(view.events.map((e) => e.status)).toEqual(['queued', 'pending', 'sent', 'delivered']);
    expect(view.events.at(-1)!.detail).toBe('delivered, reported by twilio');
    expect(await outbox(id)).toEqual([
      { status: 'sent', detail: `accepted by the twilio provider (${providerId})` },
      { status: 'delivered', detail: 'delivered, reported by twilio' },
    ]);
  });

  it('marks an undelivered message failed with Twilio’s error code', async () => {
    const providerId = sid();
    const { id } = await sent('twilio', providerId);
    const r = await twilio(twilioFields(providerId, 'undelivered', { ErrorCode: '30003' }));
    expect(r.json()).toEqual({ results: ['applied'] });
    const view = await message(id);
    expect(view.status).toBe('failed');
    expect(view.failureReason).toBe('twilio error 30003');
    expect(view.events.at(-1)).toMatchObject({ status: 'failed', detail: 'undelivered, reported by twilio (error 30003)' });
    expect((await outbox(id)).map((e) => e.status)).toEqual(['sent', 'failed']);
  });

  it('refuses a forged, unsigned or re-targeted callback with 401 and changes nothing', async () => {
    const providerId = sid();
    const { id } = await sent('twilio', providerId);
    const fields = twilioFields(providerId, 'delivered');
    const forgedBefore = await counted('twilio', 'forged');
    const authBefore = await ingestAuthRefusals();

    const attempts = [
      await twilio(fields, 'bm90IGEgc2lnbmF0dXJlIGF0IGFsbCE='),
      await twilio(fields, null),
      await twilio(fields, ''),
      // Signed for another address, or before one field was changed.
      await twilio(fields, twilioReference(TWILIO_TOKEN, `https://elsewhere.example.com/api${TWILIO_PATH}`, fields)),
      await twilio(fields, twilioReference(TWILIO_TOKEN, BASE + TWILIO_PATH, { ...fields, MessageStatus: 'sent', SmsStatus: 'sent' })),
      await twilio(fields, twilioReference('another-account-token', BASE + TWILIO_PATH, fields)),
    ];
    for (const r of attempts) {
      expect(r.statusCode).toBe(401);
      expect(r.json()).toEqual({
        error: { code: 'UNAUTHENTICATED', message: 'missing or invalid X-Twilio-Signature', details: [], requestId: expect.any(String) },
      });
      expect(r.headers['www-authenticate']).toContain('X-Twilio-Signature');
    }
    expect(await counted('twilio', 'forged')).toBe(forgedBefore + attempts.length);
    // Not counted as a sender refused for its API key.
    expect(await ingestAuthRefusals()).toBe(authBefore);
    const view = await message(id);
    expect(view.status).toBe('sent');
    expect(view.events.map((e) => e.status)).toEqual(['queued', 'pending', 'sent']);
    expect((await outbox(id)).map((e) => e.status)).toEqual(['sent']);
  });

  it('answers 200 to a receipt for an id that is not ours, counted as unknown (Twilio retries anything else)', async () => {
    const before = await counted('twilio', 'unknown');
    const r = await twilio(twilioFields(sid(), 'delivered'));
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ results: ['unknown'] });
    expect(await counted('twilio', 'unknown')).toBe(before + 1);
  });

  it('answers a status named like an object property, or an id no provider makes, as 200 without failing the callback', async () => {
    // Looked up in a plain object, `constructor` was a status (Object), which PostgreSQL
    // refused: 503, and Twilio would retry it for days. A NUL in the id, which PostgreSQL
    // refuses too, can be no id of ours.
    const providerId = sid();
    const { id } = await sent('twilio', providerId);
    for (const status of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const r = await twilio(twilioFields(providerId, status));
      expect(r.statusCode, status).toBe(200);
      expect(r.json()).toEqual({ results: ['stale'] });
    }
    for (const nasty of [`${providerId}\u0000`, 'SM\u0000', 'SM\nx']) {
      const r = await twilio(twilioFields(nasty, 'delivered'));
      expect(r.statusCode, JSON.stringify(nasty)).toBe(200);
      expect(r.json()).toEqual({ results: ['unknown'] });
    }
    expect((await message(id)).status).toBe('sent');
  });

  it('acknowledges statuses that move nothing without a change', async () => {
    const providerId = sid();
    const { id } = await sent('twilio', providerId);
    for (const status of ['queued', 'sent'])
      expect((await twilio(twilioFields(providerId, status))).json()).toEqual({ results: ['stale'] });
    expect((await message(id)).status).toBe('sent');
  });

  it.each([
    ['delivered', 'sent', 'delivered'],
    ['delivered', 'failed', 'delivered'],
    ['failed', 'delivered', 'failed'],
    ['delivered', 'delivered', 'delivered'],
  ])('%s then %s leaves it %s: receipts only move a message forward', async (first, second, final) => {
    const providerId = sid();
    const { id } = await sent('twilio', providerId);
    expect((await twilio(twilioFields(providerId, first, { ErrorCode: '30005' }))).json()).toEqual({ results: ['applied'] });
    expect((await twilio(twilioFields(providerId, second, { ErrorCode: '30005' }))).json()).toEqual({ results: ['stale'] });
    const view = await message(id);
    expect(view.status).toBe(final);
    expect((await outbox(id)).map((e) => e.status)).toEqual(['sent', final]);
  });

  it('keeps a receipt that arrives before the send’s answer is recorded, and applies it then', async () => {
    const { id, to } = await pending();
    await claim(id);
    const providerId = sid();
    const before = await counted('twilio', 'early');
    const r = await twilio(twilioFields(providerId, 'delivered', { To: to }));
    expect(r.json()).toEqual({ results: ['early'] });
    expect(await counted('twilio', 'early')).toBe(before + 1);
    expect((await message(id)).status).toBe('pending');

    await accepted(id, 'twilio', providerId);
    const view = await message(id);
    expect(view.status).toBe('delivered');
    expect(view.events.map((e) => e.status)).toEqual(['queued', 'pending', 'sent', 'delivered']);
    expect((await outbox(id)).map((e) => e.status)).toEqual(['sent', 'delivered']);
  });

  it('checks the signature over the query string Twilio was given, too', async () => {
    const providerId = sid();
    const { id } = await sent('twilio', providerId);
    const fields = twilioFields(providerId, 'delivered');
    const path = `${TWILIO_PATH}?attempt=1`;
    const r = await app.app.inject({
      method: 'POST',
      url: path,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilioReference(TWILIO_TOKEN, BASE + path, fields),
      },
      payload: new URLSearchParams(fields).toString(),
    });
    expect(r.json()).toEqual({ results: ['applied'] });
    expect((await message(id)).status).toBe('delivered');
  });

  it('takes only a bounded form body', async () => {
    const json = await app.app.inject({ method: 'POST', url: TWILIO_PATH, headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(json.statusCode).toBe(415);
    const big = twilioFields(sid(), 'delivered', { Body: 'x'.repeat(20 * 1024) });
    const r = await twilio(big);
    expect(r.statusCode).toBe(413);
    expect(r.json().error.code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('Meta WhatsApp webhooks', () => {
  it('answers the subscription handshake with the challenge, only for the verify token', async () => {
    const query = (token: string, mode = 'subscribe') => `${META_PATH}?hub.mode=${mode}&hub.challenge=1158201444&hub.verify_token=${token}`;
    const ok = await app.app.inject({ method: 'GET', url: query(VERIFY_TOKEN) });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^text\/plain/);
    expect(ok.body).toBe('1158201444');
    for (const url of [query('wrong-token'), query(VERIFY_TOKEN, 'unsubscribe'), `${META_PATH}?hub.mode=subscribe&hub.challenge=1`]) {
      const refused = await app.app.inject({ method: 'GET', url });
      expect(refused.statusCode).toBe(403);
      expect(refused.json().error.code).toBe('FORBIDDEN');
    }
  });

  it('applies the other statuses of a POST that holds an object-property status or an id with a NUL', async () => {
    const [a, b] = [wamid(), wamid()];
    const delivered = await sent('meta', a);
    const untouched = await sent('meta', b);
    const body = JSON.stringify(
      metaPayload([
        metaStatus(b, 'constructor'),
        metaStatus(`${b}\u0000`, 'delivered'),
        metaStatus(a, 'delivered'),
        metaStatus(b, '__proto__'),
      ]),
    );
    const r = await meta(body);
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ results: ['applied', 'stale', 'stale', 'unknown'] });
    expect((await message(delivered.id)).status).toBe('delivered');
    expect((await message(untouched.id)).status).toBe('sent');
  });

  it('applies delivered, read and failed statuses from several entries, in one POST', async () => {
    const [a, b, c, d] = [wamid(), wamid(), wamid(), wamid()];
    const delivered = await sent('meta', a);
    const read = await sent('meta', b);
    const failed = await sent('meta', c);
    const sentOnly = await sent('meta', d);
    const body = JSON.stringify(
      metaPayload(
        [metaStatus(a, 'delivered'), metaStatus(d, 'sent')],
        [metaStatus(b, 'read'), metaStatus(c, 'failed', { errors: [{ code: 131026, title: 'Message undeliverable' }] })],
        [metaStatus(wamid(), 'delivered')],
      ),
    );
    const r = await meta(body);
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ results: ['applied', 'applied', 'applied', 'unknown', 'stale'] });

    expect((await message(delivered.id)).status).toBe('delivered');
    expect((await message(read.id)).events.at(-1)).toMatchObject({ status: 'delivered', detail: 'read, reported by meta' });
    const failedView = await message(failed.id);
    expect(failedView).toMatchObject({ status: 'failed', failureReason: 'meta error 131026: Message undeliverable' });
    expect(failedView.events.at(-1)!.detail).toBe('failed, reported by meta (error 131026: Message undeliverable)');
    expect((await message(sentOnly.id)).status).toBe('sent');
    expect((await outbox(failed.id)).map((e) => e.status)).toEqual(['sent', 'failed']);
  });

  it('refuses a missing or invalid X-Hub-Signature-256 with 401 and changes nothing', async () => {
    const providerId = wamid();
    const { id } = await sent('meta', providerId);
    const body = JSON.stringify(metaPayload([metaStatus(providerId, 'delivered')]));
    const before = await counted('meta', 'forged');
    for (const signature of [null, metaReference('another-app-secret', body), metaReference(META_SECRET, `${body} `), 'sha256=zz']) {
      const r = await meta(body, signature);
      expect(r.statusCode).toBe(401);
      expect(r.json().error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'missing or invalid X-Hub-Signature-256', details: [] });
    }
    expect(await counted('meta', 'forged')).toBe(before + 4);
    expect((await message(id)).status).toBe('sent');
  });

  it('checks the signature before the JSON: a signed body that is not JSON is 400, an unsigned one 401', async () => {
    const notJson = '{"object": "whatsapp_business_account", "entry": [';
    const signed = await meta(notJson);
    expect(signed.statusCode).toBe(400);
    expect(signed.json().error.code).toBe('INVALID_JSON');
    expect((await meta(notJson, null)).statusCode).toBe(401);
    const notAPayload = await meta(JSON.stringify({ entry: 'nope' }));
    expect(notAPayload.statusCode).toBe(400);
    expect(notAPayload.json().error.code).toBe('VALIDATION_FAILED');
  });

  it('keeps an early status until the send’s answer is recorded', async () => {
    const { id, to } = await pending('whatsapp');
    await claim(id);
    const providerId = wamid();
    const r = await meta(JSON.stringify(metaPayload([metaStatus(providerId, 'delivered', { recipient_id: to.slice(1) })])));
    expect(r.json()).toEqual({ results: ['early'] });
    await accepted(id, 'meta', providerId);
    expect((await message(id)).status).toBe('delivered');
  });
});
