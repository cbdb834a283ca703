import type { ErrorDetail } from '@esh3ar/contracts';
import type { ProviderReceipt, ReceiptStatus } from '@esh3ar/db';
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { couldBeOurs, e164, PROVIDER_ID_MAX_CHARS, providerText } from './provider-text.ts';

/*
 * The WhatsApp Cloud API's status webhook (https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status/):
 * {object: "whatsapp_business_account", entry: [{changes: [{field: "messages", value:
 * {statuses: [{id: "wamid…", status, timestamp, recipient_id, errors?: [{code, title, …}]}]}}]}]}.
 * Only what is read here is checked; other fields (and other webhook fields, whose values
 * differ) pass as they are, since Meta adds fields without notice.
 */
const Status = Type.Object({
  id: Type.String({ minLength: 1, maxLength: PROVIDER_ID_MAX_CHARS }),
  status: Type.String({ maxLength: 64 }),
  recipient_id: Type.Optional(Type.String()),
  errors: Type.Optional(
    Type.Array(Type.Object({ code: Type.Optional(Type.Union([Type.Number(), Type.String()])), title: Type.Optional(Type.String()) })),
  ),
});
const Payload = Type.Object({
  object: Type.String(),
  entry: Type.Array(
    Type.Object({
      changes: Type.Optional(Type.Array(Type.Object({ field: Type.String(), value: Type.Optional(Type.Unknown()) }))),
    }),
  ),
});
const MessagesValue = Type.Object({ statuses: Type.Optional(Type.Array(Status)) });
const checkPayload = Compile(Payload);
const checkMessagesValue = Compile(MessagesValue);
type Status = Static<typeof Status>;

/**
 * `read` implies delivered (Meta sends no `delivered` for a message read at once);
 * `sent` and anything else moves nothing.
 */
const FINAL: ReadonlyMap<string, ReceiptStatus> = new Map([
  ['delivered', 'delivered'],
  ['read', 'delivered'],
  ['failed', 'failed'],
]);

/**
 * `noNews`: statuses that move nothing; `notOurs`: receipts whose id cannot be one of ours
 * (couldBeOurs), answered as unknown without a lookup.
 */
export type MetaPayload =
  { kind: 'statuses'; receipts: ProviderReceipt[]; noNews: number; notOurs: number } | { kind: 'invalid'; details: ErrorDetail[] };

function receiptOf(status: Status, final: ReceiptStatus): ProviderReceipt {
  const said = providerText(status.status, 32);
  const error = status.errors?.[0];
  const code = error?.code === undefined ? '' : providerText(String(error.code), 16);
  const title = error?.title === undefined ? '' : providerText(error.title);
  const named = [code, title].filter((part) => part !== '').join(': ');
  return {
    providerMessageId: status.id,
    status: final,
    recipient: e164(status.recipient_id),
    detail: `${said}, reported by meta${final === 'failed' && named !== '' ? ` (error ${named})` : ''}`,
    reason: final === 'failed' ? (named === '' ? `meta: ${said}` : `meta error ${named}`) : null,
  };
}

/** The receipts in a webhook POST of any number of entries, changes and statuses, in their order. */
export function metaReceipts(payload: unknown): MetaPayload {
  if (!checkPayload.Check(payload)) {
    return {
      kind: 'invalid',
      details: [...checkPayload.Errors(payload)].map((e) => ({ path: e.instancePath || '/', message: e.message })),
    };
  }
  const receipts: ProviderReceipt[] = [];
  let noNews = 0;
  let notOurs = 0;
  if (payload.object !== 'whatsapp_business_account') return { kind: 'statuses', receipts, noNews, notOurs };
  for (const [e, entry] of payload.entry.entries()) {
    for (const [c, change] of (entry.changes ?? []).entries()) {
      if (change.field !== 'messages') continue;
      if (!checkMessagesValue.Check(change.value)) {
        const path = `/entry/${e}/changes/${c}/value`;
        return {
          kind: 'invalid',
          details: [...checkMessagesValue.Errors(change.value)].map((x) => ({ path: path + x.instancePath, message: x.message })),
        };
      }
      for (const status of change.value.statuses ?? []) {
        // A Map: a status named like an object's own properties (constructor, __proto__) is no status.
        const final = FINAL.get(status.status.toLowerCase());
        if (final === undefined) noNews += 1;
        else if (!couldBeOurs(status.id)) notOurs += 1;
        else receipts.push(receiptOf(status, final));
      }
    }
  }
  return { kind: 'statuses', receipts, noNews, notOurs };
}
