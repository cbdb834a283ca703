import type { Channel } from '../faults.ts';
import { recipientProblem } from '../recipient.ts';

/** One create-Message request, once checked. */
export interface CreateMessage {
  channel: Extract<Channel, 'sms' | 'whatsapp'>;
  /** As sent, `whatsapp:` included. */
  to: string;
  /** The E.164 number behind `to`. */
  number: string;
  /** From as sent, or null with a Messaging Service. */
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  statusCallback: string | null;
  validityPeriod: number | null;
}

/** A refusal: Twilio's code and message, and how the simulator counts it. */
export interface Refusal {
  status: number;
  code: number;
  message: string;
  outcome: 'invalid_request' | 'invalid_recipient';
}

const WHATSAPP = 'whatsapp:';
/** Twilio's limit on Body (https://www.twilio.com/docs/api/errors/21617). */
const MAX_BODY_CHARS = 1600;
/** ValidityPeriod's range in seconds (https://www.twilio.com/docs/api/errors/21624). */
const MAX_VALIDITY_PERIOD = 36_000;
const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;

const refuse = (code: number, message: string, outcome: Refusal['outcome'] = 'invalid_request'): Refusal => ({
  status: 400,
  code,
  message,
  outcome,
});

/** The channel a request is for, read before anything is checked: a channel that is down refuses whatever it is sent. */
export const channelOf = (form: URLSearchParams): CreateMessage['channel'] =>
  (form.get('To') ?? '').startsWith(WHATSAPP) ? 'whatsapp' : 'sms';

/**
 * The parameters of POST /2010-04-01/Accounts/{AccountSid}/Messages.json that the
 * simulator reads, checked as Twilio does, in this order: To (21604 required), From or
 * MessagingServiceSid (21603 required, 21701 a malformed service SID), Body (21602
 * required, 21617 too long), ValidityPeriod (21624), StatusCallback (21609), then the
 * recipient: 21211 for a number that is not E.164 (or starts with +1999, provider-sim's
 * permanent-failure prefix), 21910 when To and From are not on the same channel. Other
 * parameters are ignored.
 */
export function checkCreateMessage(form: URLSearchParams): { ok: true; value: CreateMessage } | { ok: false; refusal: Refusal } {
  const to = form.get('To') ?? '';
  if (to === '') return { ok: false, refusal: refuse(21604, "A 'To' phone number is required.") };
  const from = form.get('From') || null;
  const messagingServiceSid = form.get('MessagingServiceSid') || null;
  if (from === null && messagingServiceSid === null) return { ok: false, refusal: refuse(21603, "A 'From' phone number is required.") };
  if (messagingServiceSid !== null && !MESSAGING_SERVICE_SID.test(messagingServiceSid))
    return { ok: false, refusal: refuse(21701, `The Messaging Service Sid ${messagingServiceSid} is invalid.`) };
  const body = form.get('Body') ?? '';
  if (body === '') return { ok: false, refusal: refuse(21602, 'Message body is required.') };
  if (body.length > MAX_BODY_CHARS)
    return { ok: false, refusal: refuse(21617, `The concatenated message body exceeds the ${MAX_BODY_CHARS} character limit.`) };
  const validity = form.get('ValidityPeriod');
  let validityPeriod: number | null = null;
  if (validity !== null) {
    validityPeriod = Number(validity);
    if (!Number.isInteger(validityPeriod) || validityPeriod < 1 || validityPeriod > MAX_VALIDITY_PERIOD)
      return { ok: false, refusal: refuse(21624, 'Invalid validity period value') };
  }
  const statusCallback = form.get('StatusCallback') || null;
  if (statusCallback !== null && !URL.canParse(statusCallback))
    return { ok: false, refusal: refuse(21609, `Invalid StatusCallback url: ${statusCallback}`) };
  const channel = channelOf(form);
  const number = channel === 'whatsapp' ? to.slice(WHATSAPP.length) : to;
  if (recipientProblem(channel, number) !== null)
    return { ok: false, refusal: refuse(21211, `The 'To' number ${to} is not a valid phone number.`, 'invalid_recipient') };
  if (from !== null && from.startsWith(WHATSAPP) !== (channel === 'whatsapp'))
    return {
      ok: false,
      refusal: refuse(21910, 'Invalid From and To pair. From and To should be of the same channel.'),
    };
  return { ok: true, value: { channel, to, number, from, messagingServiceSid, body, statusCallback, validityPeriod } };
}
