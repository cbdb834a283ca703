import { IdempotencyKey, SendMessageRequest } from '@esh3ar/contracts';
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
