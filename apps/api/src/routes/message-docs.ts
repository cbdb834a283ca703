import { IdempotencyKey, SendMessageRequest, type MessageView } from '@esh3ar/contracts';
import { Type } from 'typebox';
import { named } from '../route-docs.ts';

/* What the /v1/messages routes' schemas share for the reference page (openapi.ts). */

export const EXAMPLE_ID = '01948a3e-5b7c-7d2e-9f10-3a4b5c6d7e8f';
export const EXAMPLE_AT = '2025-01-31T09:30:00.000Z';

/** One message of each kind a sender sends, for both POST routes. */
export const EXAMPLE_MESSAGES = {
  sms: { recipient: '+966501234567', channel: 'sms', priority: 'high', content: 'Your code is 482913', ttlSeconds: 300 },
  appWithFallback: {
    recipient: '+966501234567',
    subject: 'Order 1234',
    content: 'Your order has shipped',
    fallback: 'sms',
    fallbackAfterSeconds: 120,
    metadata: { orderId: '1234' },
  },
  email: { recipient: 'customer@example.com', channel: 'email', subject: 'Your receipt', content: 'Thank you for your order.' },
  scheduled: { recipient: '+966501234567', channel: 'sms', content: 'Your table is booked for 8 pm', sendAt: '2025-02-01T10:00:00+03:00' },
};

/** A message read back, as GET /v1/messages/{id} answers it: delivered. */
export const EXAMPLE_VIEW: MessageView = {
  id: EXAMPLE_ID,
  status: 'delivered',
  recipient: '+966501234567',
  channel: 'sms',
  priority: 'high',
  subject: null,
  content: 'Your code is 482913',
  metadata: null,
  attempts: 1,
  createdAt: EXAMPLE_AT,
  updatedAt: '2025-01-31T09:30:02.410Z',
  deliveredAt: '2025-01-31T09:30:02.410Z',
  failureReason: null,
  sms: { encoding: 'GSM-7', segments: 1 },
  sendAt: null,
  heldReason: null,
  events: [
    { status: 'queued', at: EXAMPLE_AT, detail: null },
    { status: 'pending', at: '2025-01-31T09:30:00.120Z', detail: 'stored' },
    { status: 'sent', at: '2025-01-31T09:30:00.480Z', detail: 'twilio' },
    { status: 'delivered', at: '2025-01-31T09:30:02.410Z', detail: 'delivered, reported by twilio' },
  ],
};

/** A scheduled message its sender took back (DELETE /v1/messages/{id}). */
export const EXAMPLE_CANCELED_VIEW: MessageView = {
  ...EXAMPLE_VIEW,
  status: 'canceled',
  channel: 'sms',
  priority: 'normal',
  content: 'Your table is booked for 8 pm',
  attempts: 0,
  updatedAt: '2025-01-31T11:02:41.007Z',
  deliveredAt: null,
  sendAt: '2025-02-01T07:00:00.000Z',
  events: [
    { status: 'queued', at: EXAMPLE_AT, detail: null },
    { status: 'scheduled', at: '2025-01-31T09:30:00.120Z', detail: 'stored' },
    { status: 'canceled', at: '2025-01-31T11:02:41.007Z', detail: 'canceled by the sender' },
  ],
};

/** The body of POST /v1/messages, checked by validateMessage (preValidation), not by Ajv. */
export const MessageBody = Type.With(SendMessageRequest, { 'x-examples': named(EXAMPLE_MESSAGES) });

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.With(IdempotencyKey, {
      description:
        'Per tenant for 24 h: a repeat with the same body gets the first answer (Idempotent-Replayed: true), with another body 422',
    }),
  ),
});

/** Set on every answer of a route under a tenant's rate limit. */
export const RATE_LIMIT_HEADERS = {
  'x-ratelimit-limit': Type.Integer({ description: 'Messages the tenant may send per window' }),
  'x-ratelimit-remaining': Type.Integer({ description: 'Messages left in this window' }),
  'x-ratelimit-reset': Type.Integer({ description: 'Seconds until the window frees a slot' }),
};
