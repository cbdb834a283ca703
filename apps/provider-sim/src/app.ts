/**
 * provider-sim — a local stand-in for the SMS, WhatsApp and email providers, with fault
 * injection. The worker's provider adapters, the tests and the demos rely on this API.
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

export interface AppDeps {
  logger: FastifyBaseLogger;
  registry: Registry;
  limits: StoreLimits;
  /** [0, 1), like Math.random: draws the injected faults. */
  random: () => number;
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
  controlRoutes(app, { control });
  inspectRoutes(app, { store, counters, registry: deps.registry });
  return app;
}
