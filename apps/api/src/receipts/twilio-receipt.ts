import type { ProviderReceipt, ReceiptStatus } from '@esh3ar/db';
import { couldBeOurs, e164, PROVIDER_ID_MAX_CHARS, providerText } from './provider-text.ts';
import type { FormFields } from './twilio-signature.ts';

/**
 * What a MessageStatus of Twilio's status callback means for a sent message
 * (https://www.twilio.com/docs/messaging/api/message-resource#message-status-values).
 * `read` (WhatsApp) implies delivered: WhatsApp sends no separate `delivered` for a message
 * read at once. queued, accepted, scheduled, sending, sent, receiving, received,
 * partially_delivered and canceled move nothing.
 */
const FINAL: ReadonlyMap<string, ReceiptStatus> = new Map([
  ['delivered', 'delivered'],
  ['read', 'delivered'],
  ['undelivered', 'failed'],
  ['failed', 'failed'],
]);

export type TwilioCallback =
  | { kind: 'receipt'; receipt: ProviderReceipt }
  /** A status that moves nothing (queued, sent, …): acknowledged, no lookup. */
  | { kind: 'no_news' }
  /** An id that cannot be one of ours (a control character in it): acknowledged as unknown, no lookup. */
  | { kind: 'not_ours' }
  | { kind: 'invalid'; field: string; problem: string };

/** A field sent once; undefined when absent or sent more than once. */
function single(fields: FormFields, name: string): string | undefined {
  const value = fields[name];
  return typeof value === 'string' ? value : undefined;
}

/** The receipt in the fields of a status callback (MessageSid, MessageStatus, ErrorCode, To). */
export function twilioCallback(fields: FormFields): TwilioCallback {
  const sid = single(fields, 'MessageSid') ?? single(fields, 'SmsSid');
  if (sid === undefined || sid === '' || sid.length > PROVIDER_ID_MAX_CHARS) {
    return { kind: 'invalid', field: 'MessageSid', problem: `required once, 1–${PROVIDER_ID_MAX_CHARS} characters` };
  }
  const reported = (single(fields, 'MessageStatus') ?? single(fields, 'SmsStatus'))?.toLowerCase();
  if (reported === undefined) return { kind: 'invalid', field: 'MessageStatus', problem: 'required once' };
  // A Map: a status named like an object's own properties (constructor, __proto__) is no status.
  const status = FINAL.get(reported);
  if (status === undefined) return { kind: 'no_news' };
  if (!couldBeOurs(sid)) return { kind: 'not_ours' };
  const errorCode = providerText(single(fields, 'ErrorCode') ?? '', 16);
  const said = providerText(reported, 32);
  const error = errorCode === '' || errorCode === '0' ? '' : ` (error ${errorCode})`;
  return {
    kind: 'receipt',
    receipt: {
      providerMessageId: sid,
      status,
      recipient: e164(single(fields, 'To')),
      detail: `${said}, reported by twilio${status === 'failed' ? error : ''}`,
      reason: status === 'failed' ? (error === '' ? `twilio: ${said}` : `twilio error ${errorCode}`) : null,
    },
  };
}
