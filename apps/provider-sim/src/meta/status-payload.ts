import type { ReceiptStatus } from '../twilio/receipt-outcomes.ts';

/**
 * The WhatsApp Business Account and business number the simulator's webhooks speak for
 * (Meta's own example values): the api reads neither, they make the payload whole.
 */
const WABA_ID = '102290129340398';
const DISPLAY_PHONE_NUMBER = '15550783881';

export type MetaStatus = 'sent' | 'delivered' | 'failed';

/** A failed status's reason, as in the `errors` of Meta's status webhook. */
interface StatusError {
  code: number;
  title: string;
  details: string;
}

/**
 * The statuses a message goes through for each drawn outcome (PROVIDER_SIM_RECEIPT_OUTCOMES,
 * shared with the Twilio part): delivered → sent, delivered; undelivered → sent, then failed
 * with 131026 (not on WhatsApp, or an old client); failed → failed with 131000 at once.
 */
export const STATUSES_OF: Record<ReceiptStatus, readonly { status: MetaStatus; error?: StatusError }[]> = {
  delivered: [{ status: 'sent' }, { status: 'delivered' }],
  undelivered: [
    { status: 'sent' },
    { status: 'failed', error: { code: 131026, title: 'Message undeliverable', details: 'Message Undeliverable.' } },
  ],
  failed: [
    {
      status: 'failed',
      error: { code: 131000, title: 'Something went wrong', details: 'Message failed to send due to an unknown error.' },
    },
  ],
};

export interface StatusUpdate {
  phoneNumberId: string;
  wamid: string;
  /** The recipient's WhatsApp ID: digits, no plus. */
  recipientId: string;
  status: MetaStatus;
  error?: StatusError;
  at: Date;
}

/**
 * One status webhook as Meta POSTs it
 * (https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status/):
 * `{object: "whatsapp_business_account", entry: [{id, changes: [{field: "messages", value:
 * {messaging_product, metadata, statuses: [{id, status, timestamp, recipient_id, pricing |
 * errors}]}}]}]}`, the timestamp in Unix seconds as a string.
 */
export function statusPayload(update: StatusUpdate): Record<string, unknown> {
  const { status, error } = update;
  const detail =
    error === undefined
      ? { pricing: { billable: true, pricing_model: 'PMP', category: 'service' } }
      : {
          errors: [
            {
              code: error.code,
              title: error.title,
              message: error.title,
              error_data: { details: error.details },
              href: 'https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes',
            },
          ],
        };
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: WABA_ID,
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: DISPLAY_PHONE_NUMBER, phone_number_id: update.phoneNumberId },
              statuses: [
                {
                  id: update.wamid,
                  status,
                  timestamp: String(Math.floor(update.at.getTime() / 1000)),
                  recipient_id: update.recipientId,
                  ...detail,
                },
              ],
            },
          },
        ],
      },
    ],
  };
}
