import { recipientProblem } from '../recipient.ts';
import { graphError, type Refusal } from './errors.ts';

/** One send-message request, once checked. */
export interface SendMessage {
  /** `to` as sent. */
  input: string;
  /** The recipient in E.164, plus sign included, as GET /received lists it. */
  number: string;
  /** The WhatsApp ID Meta answers: the number's digits. */
  waId: string;
  body: string;
}

/** Meta's limit on a text body (https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/text-messages/). */
const MAX_BODY_CHARS = 4096;
/** The separators Meta accepts in `to` besides the leading plus: spaces, hyphens and parentheses. */
const SEPARATORS = /[\s\-()]/g;

const invalid = (details: string): Refusal => ({
  status: 400,
  body: graphError(100, 'Invalid parameter', details),
  outcome: 'invalid_request',
});

/**
 * The body of POST /{version}/{phone-number-id}/messages that the simulator reads, checked
 * in this order: JSON object, messaging_product "whatsapp", to, type ("text", the default;
 * any other is 131051, the simulator sends text only), text.body (1–4096 characters), all
 * code 100 Invalid parameter; then the recipient: `to` that is not a phone number with its
 * country code (after dropping spaces, hyphens and parentheses) is 100, and one starting
 * with +1999 (provider-sim's permanent-failure prefix) is 131026 Message Undeliverable, as
 * Meta answers for a number that is not on WhatsApp. Other fields are ignored.
 */
export function checkSendMessage(raw: string): { ok: true; value: SendMessage } | { ok: false; refusal: Refusal } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { ok: false, refusal: invalid('The request body is not valid JSON.') };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return { ok: false, refusal: invalid('The request body must be a JSON object.') };
  const body = parsed as { messaging_product?: unknown; to?: unknown; type?: unknown; text?: { body?: unknown } | null };
  if (body.messaging_product !== 'whatsapp')
    return { ok: false, refusal: invalid('The parameter messaging_product is required and must be "whatsapp".') };
  if (typeof body.to !== 'string' || body.to === '') return { ok: false, refusal: invalid('The parameter to is required.') };
  const type = body.type ?? 'text';
  if (type !== 'text')
    return {
      ok: false,
      refusal: {
        status: 400,
        body: graphError(
          131051,
          'Unsupported message type',
          `Message type ${JSON.stringify(type)} is not supported by provider-sim, which sends text.`,
        ),
        outcome: 'invalid_request',
      },
    };
  const text = typeof body.text === 'object' && body.text !== null ? body.text.body : undefined;
  if (typeof text !== 'string' || text === '') return { ok: false, refusal: invalid("The parameter text['body'] is required.") };
  if (text.length > MAX_BODY_CHARS)
    return { ok: false, refusal: invalid(`Param text['body'] must be at most ${MAX_BODY_CHARS} characters long.`) };
  const digits = body.to.replace(SEPARATORS, '').replace(/^\+/, '');
  const number = `+${digits}`;
  if (!/^[1-9][0-9]{7,14}$/.test(digits))
    return {
      ok: false,
      refusal: { ...invalid(`The parameter to (${body.to}) is not a phone number with its country code.`), outcome: 'invalid_recipient' },
    };
  const problem = recipientProblem('whatsapp', number);
  if (problem !== null)
    return {
      ok: false,
      refusal: {
        status: 400,
        body: graphError(131026, 'Message Undeliverable.', `Unable to deliver message: ${problem}.`),
        outcome: 'invalid_recipient',
      },
    };
  return { ok: true, value: { input: body.to, number, waId: digits, body: text } };
}
