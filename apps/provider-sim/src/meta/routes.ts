import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { decide, type ControlState, type Decision } from '../faults.ts';
import type { OutcomeCounters } from '../outcomes.ts';
import { pause } from '../routes/send.ts';
import type { ReceivedStore } from '../store.ts';
import { FAULT_ERRORS, graphError, type GraphError } from './errors.ts';
import { checkSendMessage, type SendMessage } from './send-message.ts';
import type { MetaWebhookSender } from './webhooks.ts';

export interface MetaAccount {
  /** PROVIDER_SIM_META_TOKEN: the Bearer token every send must carry. */
  token: string;
}

export interface MetaDeps {
  account: MetaAccount;
  control: { state: ControlState };
  store: ReceivedStore;
  counters: OutcomeCounters;
  webhooks: MetaWebhookSender;
  random: () => number;
  /** Aborted when the server closes: answers waiting out `latencyMs` are sent at once. */
  closing: AbortSignal;
}

interface Answer {
  status: number;
  body: Record<string, unknown> | GraphError;
}

/** A Graph API version segment, as in /v21.0/. */
const VERSION = /^v[0-9]+\.[0-9]+$/;
/** A Graph object ID is digits. */
const OBJECT_ID = /^[0-9]+$/;

function authenticated(request: FastifyRequest, account: MetaAccount): boolean {
  const given = Buffer.from(request.headers.authorization ?? '');
  const expected = Buffer.from(`Bearer ${account.token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * A message id shaped as Meta's are: "wamid." and base64 of a small binary record holding
 * the recipient's number and a random hex id, e.g.
 * wamid.HBgNMTU1NTE0OTU5Nzg1FQIAERgSMDhGRjdBMDEyOTcxQzFFQkFBAA==.
 */
function wamid(waId: string): string {
  const id = randomBytes(9).toString('hex').toUpperCase();
  const record = Buffer.concat([
    Buffer.from([0x1c, 0x18, waId.length]),
    Buffer.from(waId),
    Buffer.from([0x15, 0x02, 0x00, 0x11, 0x18, id.length]),
    Buffer.from(id),
    Buffer.from([0x00]),
  ]);
  return `wamid.${record.toString('base64')}`;
}

function answerSend(request: FastifyRequest, decision: Decision, deps: MetaDeps): Answer {
  const { phoneNumberId } = request.params as { phoneNumberId: string };
  if (!authenticated(request, deps.account)) {
    deps.counters.count('whatsapp', 'invalid_request');
    return { status: 401, body: graphError(190, 'Invalid OAuth access token - Cannot parse access token', null) };
  }
  if (!OBJECT_ID.test(phoneNumberId)) {
    deps.counters.count('whatsapp', 'invalid_request');
    const title = `Unsupported post request. Object with ID '${phoneNumberId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`;
    return { status: 400, body: graphError(100, title, null, 33) };
  }
  const check = checkSendMessage(typeof request.body === 'string' ? request.body : '');
  if (!check.ok) {
    deps.counters.count('whatsapp', check.refusal.outcome);
    return { status: check.refusal.status, body: check.refusal.body };
  }
  if (decision.outcome === 'injected') {
    deps.counters.count('whatsapp', 'injected');
    const { code, title, details } = FAULT_ERRORS[decision.status]!;
    return { status: decision.status, body: graphError(code, title, details) };
  }
  return accept(phoneNumberId, check.value, deps);
}

function accept(phoneNumberId: string, message: SendMessage, deps: MetaDeps): Answer {
  const id = wamid(message.waId);
  // No idempotency key at Meta: a repeated send is another message. The wamid stands in
  // the store's idempotencyKey, which keeps the item findable and never matches a key.
  const dropped = deps.store.add({
    id,
    channel: 'whatsapp',
    to: message.number,
    text: message.body,
    subject: null,
    idempotencyKey: id,
    receivedAt: new Date().toISOString(),
  });
  deps.counters.count('whatsapp', 'accepted');
  for (const old of dropped) deps.counters.dropped(old.channel, 1);
  deps.webhooks.schedule({ phoneNumberId, wamid: id, recipientId: message.waId });
  return {
    status: 200,
    body: { messaging_product: 'whatsapp', contacts: [{ input: message.input, wa_id: message.waId }], messages: [{ id }] },
  };
}

/**
 * The WhatsApp Cloud API's send-message endpoint over the simulator's whatsapp channel,
 * its fault injection and received store (documented in app.ts). Order: down → Bearer
 * token → phone number ID → body → injected fault → recipient → accept; every answer but
 * "down" waits the channel's latencyMs, and an accepted message is recorded (and its
 * webhooks scheduled) before that wait.
 */
export async function metaRoutes(app: FastifyInstance, deps: MetaDeps): Promise<void> {
  // The body is read as text: a channel that is down answers whatever it is sent, and a
  // malformed body is refused with Meta's error rather than Fastify's.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  app.post('/:version/:phoneNumberId/messages', async (request, reply) => {
    const { version } = request.params as { version: string };
    if (!VERSION.test(version)) return reply.callNotFound();
    const faults = deps.control.state.whatsapp;
    const decision = decide(faults, deps.random);
    if (decision.outcome === 'down') {
      deps.counters.count('whatsapp', 'down');
      const { code, title, details } = FAULT_ERRORS[503]!;
      return reply.code(503).send(graphError(code, title, details));
    }
    const answer = answerSend(request, decision, deps);
    await pause(faults.latencyMs, deps.closing);
    if (answer.status === 401) reply.header('www-authenticate', 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token"');
    return reply.code(answer.status).send(answer.body);
  });
}
