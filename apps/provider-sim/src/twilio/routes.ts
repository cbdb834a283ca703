import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { decide, type ControlState, type Decision } from '../faults.ts';
import type { OutcomeCounters } from '../outcomes.ts';
import { pause } from '../routes/send.ts';
import type { ReceivedStore } from '../store.ts';
import { channelOf, checkCreateMessage, type CreateMessage } from './create-message.ts';
import { FAULT_ERRORS, twilioError, type TwilioError } from './errors.ts';
import type { ReceiptSender } from './receipts.ts';

export interface TwilioAccount {
  accountSid: string;
  authToken: string;
}

export interface TwilioDeps {
  account: TwilioAccount;
  control: { state: ControlState };
  store: ReceivedStore;
  counters: OutcomeCounters;
  receipts: ReceiptSender;
  random: () => number;
  /** Aborted when the server closes: answers waiting out `latencyMs` are sent at once. */
  closing: AbortSignal;
}

/** The number a Messaging Service sends from here: Twilio's magic test number (https://www.twilio.com/docs/iam/test-credentials). */
const SERVICE_NUMBER = '+15005550006';

interface Answer {
  status: number;
  body: Record<string, unknown> | TwilioError;
  retryAfterSeconds?: number;
}

/** HTTP Basic with the Account SID and Auth Token, for the account the path names. */
function authenticated(request: FastifyRequest, pathSid: string, account: TwilioAccount): boolean {
  const header = request.headers.authorization ?? '';
  if (!header.startsWith('Basic ')) return false;
  const given = Buffer.from(header.slice('Basic '.length), 'base64');
  const expected = Buffer.from(`${account.accountSid}:${account.authToken}`);
  return pathSid === account.accountSid && given.length === expected.length && timingSafeEqual(given, expected);
}

/** Twilio's date format: RFC 2822 in GMT, "Thu, 30 Jul 2015 20:12:31 +0000". */
const rfc2822 = (date: Date) => date.toUTCString().replace('GMT', '+0000');

/** The Message resource as Twilio answers its creation (https://www.twilio.com/docs/messaging/api/message-resource). */
function messageResource(sid: string, accountSid: string, message: CreateMessage, now: Date): Record<string, unknown> {
  const uri = `/2010-04-01/Accounts/${accountSid}/Messages/${sid}`;
  return {
    account_sid: accountSid,
    api_version: '2010-04-01',
    body: message.body,
    date_created: rfc2822(now),
    date_sent: null,
    date_updated: rfc2822(now),
    direction: 'outbound-api',
    error_code: null,
    error_message: null,
    from: message.from,
    messaging_service_sid: message.messagingServiceSid,
    num_media: '0',
    num_segments: String(Math.ceil(message.body.length / 153) || 1),
    price: null,
    price_unit: 'USD',
    sid,
    // With a Messaging Service Twilio picks the sender later: `accepted`, not yet `queued`.
    status: message.messagingServiceSid === null ? 'queued' : 'accepted',
    subresource_uris: { media: `${uri}/Media.json` },
    to: message.to,
    uri: `${uri}.json`,
  };
}

function answerCreate(request: FastifyRequest, form: URLSearchParams, decision: Decision, deps: TwilioDeps): Answer {
  const channel = channelOf(form);
  const { accountSid } = request.params as { accountSid: string };
  if (!authenticated(request, accountSid, deps.account)) {
    deps.counters.count(channel, 'invalid_request');
    return { status: 401, body: twilioError(401, 20003, 'Authenticate') };
  }
  const check = checkCreateMessage(form);
  if (!check.ok) {
    deps.counters.count(channel, check.refusal.outcome);
    return { status: check.refusal.status, body: twilioError(check.refusal.status, check.refusal.code, check.refusal.message) };
  }
  if (decision.outcome === 'injected') {
    deps.counters.count(channel, 'injected');
    const { code, message } = FAULT_ERRORS[decision.status]!;
    return {
      status: decision.status,
      body: twilioError(decision.status, code, message),
      ...(decision.retryAfterSeconds === null ? {} : { retryAfterSeconds: decision.retryAfterSeconds }),
    };
  }
  const message = check.value;
  const sid = `SM${randomUUID().replaceAll('-', '')}`;
  const now = new Date();
  // No idempotency key: a repeated create is another message, as at Twilio. The SID stands
  // in the store's idempotencyKey, which keeps the item findable and never matches a key.
  const dropped = deps.store.add({
    id: sid,
    channel,
    to: message.number,
    text: message.body,
    subject: null,
    idempotencyKey: sid,
    receivedAt: now.toISOString(),
  });
  deps.counters.count(channel, 'accepted');
  for (const old of dropped) deps.counters.dropped(old.channel, 1);
  if (message.statusCallback !== null) {
    const from = message.from ?? (channel === 'whatsapp' ? `whatsapp:${SERVICE_NUMBER}` : SERVICE_NUMBER);
    deps.receipts.schedule({ callbackUrl: message.statusCallback, messageSid: sid, accountSid, from, to: message.to });
  }
  return { status: 201, body: messageResource(sid, accountSid, message, now) };
}

/**
 * Twilio's create-Message endpoint over the simulator's channels, fault injection and
 * received store (documented in app.ts). Order: down → Basic auth → parameters → injected
 * fault → recipient → accept; every answer but "down" waits the channel's latencyMs, and an
 * accepted message is recorded (and its receipt scheduled) before that wait.
 */
export async function twilioRoutes(app: FastifyInstance, deps: TwilioDeps): Promise<void> {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  app.post('/2010-04-01/Accounts/:accountSid/Messages.json', async (request, reply) => {
    const form = new URLSearchParams(typeof request.body === 'string' ? request.body : '');
    const channel = channelOf(form);
    const faults = deps.control.state[channel];
    const decision = decide(faults, deps.random);
    if (decision.outcome === 'down') {
      deps.counters.count(channel, 'down');
      return reply.code(503).send(twilioError(503, 20503, 'Service Unavailable'));
    }
    const answer = answerCreate(request, form, decision, deps);
    await pause(faults.latencyMs, deps.closing);
    if (answer.status === 401) reply.header('www-authenticate', 'Basic realm="Twilio API"');
    if (answer.retryAfterSeconds !== undefined) reply.header('retry-after', String(answer.retryAfterSeconds));
    return reply.code(answer.status).send(answer.body);
  });
}
