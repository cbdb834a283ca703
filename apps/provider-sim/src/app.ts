/**
 * provider-sim — a local stand-in for the SMS, WhatsApp and email providers, with fault
 * injection: its own API (/v1/:channel/send) and Twilio's Messages API with signed status
 * callbacks. The worker's provider adapters, the tests and the demos rely on these.
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
 *         for sms/whatsapp, not an email address for email, or starts with +1999 (always invalid, for tests)
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
import { inspectRoutes } from './routes/inspect.ts';
import { sendRoutes } from './routes/send.ts';
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
  receipts: ReceiptSettings;
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
  app.addHook('onClose', async () => receipts.close());

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
  controlRoutes(app, { control });
  inspectRoutes(app, { store, counters, registry: deps.registry });
  return app;
}
