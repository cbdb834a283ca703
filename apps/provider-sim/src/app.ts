/**
 * provider-sim — a local stand-in for the SMS, WhatsApp and email providers, with fault
 * injection: its own API (/v1/:channel/send), Twilio's Messages API with signed status
 * callbacks, Meta's WhatsApp Cloud API with signed status webhooks, and SMTP for email.
 * The worker's provider adapters, the tests and the demos rely on these.
 *
 * Sending
 *   POST /v1/:channel/send        channel: sms | whatsapp | email (other: 404 NOT_FOUND)
 *     header Idempotency-Key: 1–255 characters, required
 *     body   {"to": string, "text": string (1–65536 chars), "subject"?: string (≤ 1000)}; unknown fields ignored
 *     200 {"id": "sim_<uuid>", "status": "accepted", "duplicate": false}   recorded (see GET /received)
 *     200 {"id": <the first id>, "status": "accepted", "duplicate": true}  same Idempotency-Key on the same
 *         channel while the first item is kept: nothing recorded again
 *     400 {"error": {"code": "INVALID_REQUEST", "message"}}    no/too long key, body not JSON or not the shape above
 *     400 {"error": {"code": "INVALID_RECIPIENT", "message"}}  permanent: `to` is not E.164 (^\+[1-9][0-9]{7,14}$)
 *         for sms/whatsapp, not an email address for email, or starts with +1999 / is in the .invalid domain
 *         (always invalid, for tests: +1 999 is no NANP area code, RFC 2606 reserves .invalid)
 *     503 {"error": {"code": "UNAVAILABLE", "message"}}        channel down: at once, whatever the request
 *     <errorStatus> {"error": {"code", "message"}}             injected with probability errorRate, nothing recorded:
 *         429 RATE_LIMITED (with Retry-After: retryAfterSeconds), 500 INTERNAL, 502 BAD_GATEWAY,
 *         503 UNAVAILABLE, 504 GATEWAY_TIMEOUT
 *   Order: down → request check → injected fault → duplicate → recipient → accept. Every answer but
 *   "down" waits latencyMs first, and an accepted message is recorded before that wait: a client that
 *   times out has still been accepted, as when a real provider's answer is lost; its retry with the
 *   same Idempotency-Key gets the same id back.
 *
 * Twilio (the Messages API, for the worker's twilio adapter; https://www.twilio.com/docs/messaging/api/message-resource)
 *   POST /2010-04-01/Accounts/:AccountSid/Messages.json   form-encoded (application/x-www-form-urlencoded)
 *     HTTP Basic: PROVIDER_SIM_TWILIO_ACCOUNT_SID : PROVIDER_SIM_TWILIO_AUTH_TOKEN (defaults AC000…0 (32 zeros)
 *       : provider-sim-auth-token), and the path's AccountSid must be that SID; otherwise
 *       401 {"code": 20003, "message": "Authenticate", "more_info", "status": 401}
 *     To: +E164 (sms) or whatsapp:+E164 (whatsapp: the channel whose faults apply); From (same channel as To)
 *       or MessagingServiceSid (MG + 32 hex); Body (1–1600 chars); ValidityPeriod (1–36000) and
 *       StatusCallback (a URL) optional; other parameters ignored
 *     201 the Message resource: {sid: "SM<32 hex>", status: "queued" ("accepted" with a Messaging Service),
 *         account_sid, to, from, body, messaging_service_sid, date_created, direction, uri, …}; recorded in
 *         GET /received (to without `whatsapp:`, id and idempotencyKey the SID)
 *     400 Twilio's error body {code, message, more_info, status}: 21604 To missing, 21603 From missing,
 *         21701 malformed MessagingServiceSid, 21602 Body missing, 21617 Body too long, 21624 ValidityPeriod,
 *         21609 StatusCallback, 21211 To not a valid number (not E.164, or the +1999 prefix),
 *         21910 From and To on different channels
 *     503 {code: 20503} when the channel is down; injected faults as Twilio's bodies: 429 20429 (with
 *         Retry-After), 500/502/504 20500, 503 20503
 *   Order: down → auth → parameters → injected fault → recipient → accept; latency as for /v1 sends.
 *   Counted in /stats and esh3ar_provider_sim_requests_total on the To's channel (a 401 and the 400s
 *   but 21211 as invalid_request, 21211 as invalid_recipient).
 *   Twilio has no idempotency key: every create is a new message with a new SID, repeats included.
 *   Status callbacks: PROVIDER_SIM_RECEIPT_DELAY_MS (default 1000) after an accepted create with a
 *   StatusCallback, one form-encoded POST to it with MessageSid, SmsSid, MessageStatus, SmsStatus,
 *   AccountSid, From, To, ApiVersion (+ ErrorCode: 30003 undelivered, 30008 failed), signed with
 *   X-Twilio-Signature (HMAC-SHA1 of the URL and the sorted fields with the Auth Token, base64). The
 *   status is drawn from PROVIDER_SIM_RECEIPT_OUTCOMES (default "delivered=1", e.g.
 *   "delivered=0.9,undelivered=0.05,failed=0.05"); a callback that fails is not tried again.
 *   esh3ar_provider_sim_receipts_total{status, result: posted | failed} counts them.
 *
 * Meta (the WhatsApp Cloud API, for the worker's meta adapter;
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/text-messages/)
 *   POST /:version/:phoneNumberId/messages   version like v21.0 (other: 404 NOT_FOUND), JSON body
 *     Authorization: Bearer PROVIDER_SIM_META_TOKEN (default provider-sim-meta-token); otherwise
 *       401 {"error": {"message": "(#<code>) Invalid OAuth access token - Cannot parse access token",
 *       "type": "OAuthException", "code": 190, "fbtrace_id"}}
 *     phoneNumberId: any digits; other: 400 code 100 with error_subcode 33 ("Unsupported post request.
 *       Object with ID … does not exist")
 *     body {"messaging_product": "whatsapp", "to", "type": "text" (the default), "text": {"body": 1–4096
 *       chars}}; other fields ignored
 *     200 {"messaging_product": "whatsapp", "contacts": [{"input": to as sent, "wa_id": its digits}],
 *         "messages": [{"id": "wamid.<base64>"}]}; recorded in GET /received on channel whatsapp
 *         (to as +E164, id and idempotencyKey the wamid)
 *     400 Meta's error body {"error": {"message": "(#code) title", "type", "code", "error_data":
 *         {"messaging_product", "details"}, "fbtrace_id"}}: 100 body not JSON or not the shape above, or
 *         `to` not a phone number with its country code (spaces, hyphens, parentheses and the plus are
 *         allowed); 131051 a type other than text; 131026 Message Undeliverable for the +1999 prefix
 *     503 131016 when whatsapp is down; injected faults with Meta's codes and no Retry-After: 429
 *         130429, 500/502/504 131000, 503 131016
 *   Order: down → token → phone number ID → body → injected fault → recipient → accept; latency as
 *   for /v1 sends. Counted in /stats and esh3ar_provider_sim_requests_total on whatsapp (a 401 and
 *   the 400s but those about `to` as invalid_request, those about `to` as invalid_recipient).
 *   Meta has no idempotency key: every send is a new message with a new wamid.
 *   Status webhooks: with PROVIDER_SIM_META_WEBHOOK_URL set (the api's /v1/providers/meta/webhook),
 *   PROVIDER_SIM_RECEIPT_DELAY_MS after an accepted send, the message's statuses POSTed one by one as
 *   Meta's `whatsapp_business_account` payload (entry[].changes[].value.statuses[] with id, status,
 *   timestamp, recipient_id, and pricing, or errors[] when failed), signed with X-Hub-Signature-256
 *   ("sha256=" + hex HMAC-SHA256 of the raw body with PROVIDER_SIM_META_APP_SECRET, default
 *   provider-sim-meta-app-secret). The outcome is drawn from PROVIDER_SIM_RECEIPT_OUTCOMES as for
 *   Twilio: delivered → sent, delivered; undelivered → sent, failed (131026); failed → failed
 *   (131000). A POST that fails is not tried again; esh3ar_provider_sim_meta_webhooks_total{status,
 *   result: posted | failed} counts them.
 *
 * SMTP (email, for the worker's smtp adapter; a real server from nodemailer's smtp-server)
 *   PROVIDER_SIM_SMTP_PORT (default 2525; 0: a free port, logged as smtpPort in "provider-sim listening")
 *   on HOST, plain SMTP: no TLS, no STARTTLS. Per connection: greeting → EHLO → AUTH → messages.
 *     greeting  421 when email is down (the connection is closed)
 *     AUTH      PLAIN or LOGIN with PROVIDER_SIM_SMTP_USER : PROVIDER_SIM_SMTP_PASS (defaults provider-sim :
 *               provider-sim-smtp-pass), required before MAIL FROM (530); otherwise 535
 *     MAIL FROM 421 when email is down; a declared SIZE over 1 MiB: 552
 *     RCPT TO   550 for an address that is not one or is in .invalid (as INVALID_RECIPIENT above); one
 *               recipient per message, more: 452
 *     DATA      the message, parsed as MIME (mailparser), then the reply, after latencyMs but for down:
 *               421 down; injected faults as errorStatus → 429: 451, 500: 451, 502: 452, 503: 421, 504: 451
 *               (nothing recorded); over 1 MiB: 552; otherwise 250 and recorded in GET /received (channel
 *               email, to the RCPT TO address, subject, the text/plain body decoded, id and idempotencyKey
 *               the Message-ID header, one made up when absent). Recorded before the latency, as for /v1
 *               sends. A Message-ID recorded before, while kept, is answered 250 and not recorded again.
 *   Counted in /stats and esh3ar_provider_sim_requests_total on email (a refused AUTH as invalid_request,
 *   a 550 as invalid_recipient). Closed with the app: open connections get 421 after 1 s.
 *
 * Fault injection (per channel)
 *   GET /control      → {"sms": Faults, "whatsapp": Faults, "email": Faults}
 *                       Faults = {errorRate, latencyMs, down, errorStatus, retryAfterSeconds}
 *   PUT /control      {"errorRate"?: 0..1, "latencyMs"?: 0..300000 (integer), "down"?: boolean,
 *                      "errorStatus"?: 429|500|502|503|504, "retryAfterSeconds"?: 1..86400 (integer),
 *                      "channel"?: "sms"|"whatsapp"|"email"}
 *                     → the whole state; without channel the change applies to every channel. Any bad
 *                       value or unknown key: 400 INVALID_REQUEST and nothing applied.
 *   DELETE /control   → defaults on every channel: errorRate 0, latencyMs 0, down false, errorStatus 503,
 *                       retryAfterSeconds 1; answers the state.
 *
 * Inspection
 *   GET /received?recipient=<to>&channel=<channel>  both optional → {"items": [{id, channel, to, text,
 *       subject (null when absent), idempotencyKey, receivedAt (ISO 8601)}]} in arrival order.
 *       A '+' in the query string is a plus, not a space: `?recipient=+966501234567` works unencoded.
 *   DELETE /received  → {"cleared": n}; forgets the items and their idempotency keys (between tests).
 *   GET /stats        → {"sms": {accepted, duplicates, rejected, failedInjected, dropped}, "whatsapp": …, "email": …}
 *       rejected: 400s on a known channel; failedInjected: injected faults and answers while down;
 *       dropped: items forgotten to bound memory.
 *   GET /health/live, GET /health/ready → 200 {"status": "ok"}
 *   GET /metrics      Prometheus text; esh3ar_provider_sim_requests_total{channel, outcome: accepted |
 *       duplicate | invalid_recipient | invalid_request | injected | down},
 *       esh3ar_provider_sim_received_dropped_total{channel}, and Node's process metrics.
 *
 * Memory is bounded: at most PROVIDER_SIM_MAX_RECEIVED items (default 100,000) and
 * PROVIDER_SIM_MAX_RECEIVED_CHARS characters are kept, the oldest dropped first; an
 * idempotency key is remembered exactly as long as its item. Other errors: 404 NOT_FOUND
 * (unknown route), 413 PAYLOAD_TOO_LARGE, 415 UNSUPPORTED_MEDIA_TYPE.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { simError } from './errors.ts';
import { defaultControl } from './faults.ts';
import { createOutcomeCounters } from './outcomes.ts';
import { controlRoutes } from './routes/control.ts';
import { metaRoutes, type MetaAccount } from './meta/routes.ts';
import { MetaWebhookSender } from './meta/webhooks.ts';
import { inspectRoutes } from './routes/inspect.ts';
import { sendRoutes } from './routes/send.ts';
import { smtpServer, type SmtpAccount } from './smtp/server.ts';
import { createReceivedStore, type StoreLimits } from './store.ts';
import { ReceiptSender, type ReceiptSettings } from './twilio/receipts.ts';
import { twilioRoutes, type TwilioAccount } from './twilio/routes.ts';

export interface AppDeps {
  logger: FastifyBaseLogger;
  registry: Registry;
  limits: StoreLimits;
  /** [0, 1), like Math.random: draws the injected faults and the receipts' statuses. */
  random: () => number;
  twilio: TwilioAccount;
  meta: MetaAccount & { appSecret: string; webhookUrl: string | null };
  receipts: ReceiptSettings;
  /** Where the SMTP server listens; none without. */
  smtp?: SmtpAccount;
}

const CODE_OF_STATUS: Record<number, string> = { 404: 'NOT_FOUND', 413: 'PAYLOAD_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE' };

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // Recipients are E.164 numbers: a '+' in `?recipient=+966…` must stay a plus.
    routerOptions: { querystringParser: (query) => Object.fromEntries(new URLSearchParams(query.replaceAll('+', '%2B'))) },
  });

  const control = { state: defaultControl() };
  const store = createReceivedStore(deps.limits);
  const counters = createOutcomeCounters(deps.registry);
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());
  const receipts = new ReceiptSender({
    settings: deps.receipts,
    authToken: deps.twilio.authToken,
    random: deps.random,
    logger: deps.logger,
    registry: deps.registry,
  });
  const metaWebhooks = new MetaWebhookSender({
    url: deps.meta.webhookUrl,
    appSecret: deps.meta.appSecret,
    settings: deps.receipts,
    random: deps.random,
    logger: deps.logger,
    registry: deps.registry,
  });
  app.addHook('onClose', async () => {
    receipts.close();
    metaWebhooks.close();
  });

  // Only Fastify's own errors reach here (bad JSON on PUT /control, body too large,
  // unsupported media type): the routes answer their refusals themselves.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) request.log.error({ err: error }, 'request failed');
    const code = CODE_OF_STATUS[status] ?? (status === 500 ? 'INTERNAL' : 'INVALID_REQUEST');
    return reply.code(status).send(simError(code, status === 500 ? 'internal error' : error.message));
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(simError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );

  await app.register(async (scope) => sendRoutes(scope, { control, store, counters, random: deps.random, closing: closing.signal }));
  await app.register(async (scope) =>
    twilioRoutes(scope, { account: deps.twilio, control, store, counters, receipts, random: deps.random, closing: closing.signal }),
  );
  await app.register(async (scope) =>
    metaRoutes(scope, {
      account: deps.meta,
      control,
      store,
      counters,
      webhooks: metaWebhooks,
      random: deps.random,
      closing: closing.signal,
    }),
  );
  smtpServer(app, deps.smtp, { control, store, counters, random: deps.random, closing: closing.signal, logger: deps.logger });
  controlRoutes(app, { control });
  inspectRoutes(app, { store, counters, registry: deps.registry });
  return app;
}
