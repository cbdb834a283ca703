import { createHash, timingSafeEqual } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { metaReceipts } from '../../receipts/meta-receipts.ts';
import { verifyMetaSignature } from '../../receipts/meta-signature.ts';
import { apiError } from '../../errors.ts';
import { forged, RECEIPT_ERRORS, receiptResults, recordReceipts, type ReceiptRouteDeps } from './record-receipts.ts';
import { ANSWERED_AS_BUILT, errorResponses, INPUT_CHECKED_BY_HANDLER, named, SECURITY } from '../../route-docs.ts';

const META_WEBHOOK_PATH = '/v1/providers/meta/webhook';

/**
 * Meta batches webhook notifications, up to 1000 updates in one POST (Graph API webhooks,
 * "Event Notifications"); a status update is ~600 bytes of JSON, so 1 MiB holds a full batch.
 */
const BODY_LIMIT = 1024 * 1024;

export interface MetaSettings {
  appSecret: string;
  /** META_WA_VERIFY_TOKEN; null: the subscription handshake is refused (403). */
  verifyToken: string | null;
}

const Handshake = Type.Object({
  'hub.mode': Type.Optional(Type.String({ maxLength: 64 })),
  'hub.verify_token': Type.Optional(Type.String({ maxLength: 1024 })),
  'hub.challenge': Type.Optional(Type.String({ maxLength: 1024 })),
});

const HANDSHAKE_REFUSED = 'hub.mode must be subscribe and hub.verify_token must be META_WA_VERIFY_TOKEN';

/** What Meta posts, as far as it is read (metaReceipts checks it), for the reference page. */
const StatusWebhook = Type.Object(
  {
    object: Type.Literal('whatsapp_business_account'),
    entry: Type.Array(
      Type.Object({
        changes: Type.Array(
          Type.Object({
            field: Type.Literal('messages'),
            value: Type.Object({
              statuses: Type.Optional(
                Type.Array(
                  Type.Object({
                    id: Type.String({ description: 'wamid.…: the id Meta answered the send with' }),
                    status: Type.String({ description: 'delivered, read and failed move the message; sent does not' }),
                    recipient_id: Type.Optional(Type.String()),
                    errors: Type.Optional(Type.Array(Type.Object({ code: Type.Integer(), title: Type.String() }))),
                  }),
                ),
              ),
            }),
          }),
        ),
      }),
    ),
  },
  {
    'x-examples': named({
      delivered: {
        object: 'whatsapp_business_account',
        entry: [
          {
            changes: [
              {
                field: 'messages',
                value: { statuses: [{ id: 'wamid.HBgMOTY2NTAxMjM0NTY3FQIAERgSQ0Y', status: 'delivered', recipient_id: '966501234567' }] },
              },
            ],
          },
        ],
      },
    }),
  },
);

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * GET and POST /v1/providers/meta/webhook: the WhatsApp Cloud API's webhook. GET is the
 * subscription handshake (https://developers.facebook.com/docs/graph-api/webhooks/getting-started,
 * "Verification Requests"): hub.mode=subscribe and hub.verify_token equal to
 * META_WA_VERIFY_TOKEN are answered with hub.challenge as text/plain; anything else 403.
 * POST carries status updates, signed over the raw body, which is kept as bytes so that
 * the signature is checked before the JSON is parsed.
 */
export function metaWebhookRoutes(scope: FastifyInstance, deps: ReceiptRouteDeps & { meta: MetaSettings }): void {
  const typed = scope.withTypeProvider<TypeBoxTypeProvider>();
  const verifyToken = deps.meta.verifyToken === null ? null : digest(deps.meta.verifyToken);

  typed.get(
    META_WEBHOOK_PATH,
    {
      ...ANSWERED_AS_BUILT,
      schema: {
        operationId: 'metaWebhookHandshake',
        summary: 'Meta webhook subscription handshake',
        description: 'hub.mode=subscribe with hub.verify_token equal to META_WA_VERIFY_TOKEN is answered with hub.challenge.',
        tags: ['receipts'],
        security: SECURITY.none,
        querystring: Handshake,
        produces: ['text/plain'],
        response: {
          200: {
            description: 'hub.challenge, as it came',
            content: { 'text/plain': { schema: Type.String(), examples: named({ challenge: '1158201444' }) } },
          },
          ...errorResponses(['FORBIDDEN', 'VALIDATION_FAILED'], { FORBIDDEN: HANDSHAKE_REFUSED }),
        },
      },
    },
    async (request, reply) => {
      const { 'hub.mode': mode, 'hub.verify_token': token, 'hub.challenge': challenge } = request.query;
      // Both sides hashed: timingSafeEqual compares equal lengths, and the time says nothing of the token.
      const matches = verifyToken !== null && token !== undefined && timingSafeEqual(digest(token), verifyToken);
      if (mode !== 'subscribe' || !matches || challenge === undefined) {
        throw apiError('FORBIDDEN', HANDSHAKE_REFUSED);
      }
      return reply.type('text/plain; charset=utf-8').header('x-content-type-options', 'nosniff').send(challenge);
    },
  );

  // Every content type is kept as bytes: the signature decides, then JSON.parse.
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  scope.post(
    META_WEBHOOK_PATH,
    {
      bodyLimit: BODY_LIMIT,
      // Bytes until the signature is verified; then metaReceipts checks what it reads.
      ...INPUT_CHECKED_BY_HANDLER,
      ...ANSWERED_AS_BUILT,
      schema: {
        operationId: 'metaWebhook',
        summary: 'WhatsApp Cloud API status webhook',
        description:
          'Every status of every entry is read, in order. Answered 200 whatever the ids (Meta retries anything else); 503 while PostgreSQL is unreachable.',
        tags: ['receipts'],
        security: SECURITY.metaSignature,
        body: StatusWebhook,
        response: {
          200: receiptResults,
          ...errorResponses([...RECEIPT_ERRORS, 'INVALID_JSON'], { UNAUTHENTICATED: 'missing or invalid X-Hub-Signature-256' }),
        },
      },
    },
    async (request, reply) => {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const header = request.headers['x-hub-signature-256'];
      if (!verifyMetaSignature(deps.meta.appSecret, raw, typeof header === 'string' ? header : undefined)) {
        throw forged(deps, 'meta', reply, 'X-Hub-Signature-256');
      }
      let payload: unknown;
      try {
        payload = JSON.parse(raw.toString('utf8'));
      } catch {
        throw apiError('INVALID_JSON', 'the request body is not valid JSON');
      }
      const parsed = metaReceipts(payload);
      if (parsed.kind === 'invalid') throw apiError('VALIDATION_FAILED', 'not a WhatsApp webhook payload', parsed.details);
      return recordReceipts(deps, 'meta', parsed.receipts, parsed.noNews, parsed.notOurs);
    },
  );
}
