import fastifyFormbody from '@fastify/formbody';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { twilioCallback } from '../../receipts/twilio-receipt.ts';
import { verifyTwilioSignature, type FormFields } from '../../receipts/twilio-signature.ts';
import { apiError } from '../../errors.ts';
import { forged, RECEIPT_ERRORS, receiptResults, recordReceipts, type ReceiptRouteDeps } from './record-receipts.ts';
import { ANSWERED_AS_BUILT, errorResponses, INPUT_CHECKED_BY_HANDLER, named, SECURITY } from '../../route-docs.ts';

const TWILIO_STATUS_PATH = '/v1/providers/twilio/status';

/**
 * A status callback is about a dozen short fields, under 1 KiB (MessageSid, MessageStatus,
 * To, From, AccountSid, ApiVersion, ErrorCode, …); 16 KiB leaves room for fields Twilio adds
 * without notice and refuses anything larger before it is read.
 */
const BODY_LIMIT = 16 * 1024;

/** What Twilio posts (among other fields it adds without notice), for the reference page. */
const StatusCallback = Type.Object(
  {
    MessageSid: Type.String({ description: 'SM… or MM…: the id Twilio answered the send with' }),
    MessageStatus: Type.String({ description: 'delivered, read, undelivered and failed move the message; other statuses do not' }),
    ErrorCode: Type.Optional(Type.String({ description: 'Twilio’s error code, for undelivered and failed' })),
    To: Type.Optional(Type.String()),
    From: Type.Optional(Type.String()),
    AccountSid: Type.Optional(Type.String()),
  },
  {
    'x-examples': named({
      delivered: { MessageSid: 'SM0123456789abcdef0123456789abcdef', MessageStatus: 'delivered', To: '+966501234567' },
      undelivered: {
        MessageSid: 'SM0123456789abcdef0123456789abcdef',
        MessageStatus: 'undelivered',
        ErrorCode: '30005',
        To: '+966501234567',
      },
    }),
  },
);

export interface TwilioSettings {
  authToken: string;
  /** PUBLIC_BASE_URL: the request's path is appended to rebuild the URL Twilio signed. */
  publicBaseUrl: string;
}

function isFormFields(body: unknown): body is FormFields {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && !Buffer.isBuffer(body);
}

/**
 * POST /v1/providers/twilio/status: Twilio's StatusCallback for messages it took
 * (application/x-www-form-urlencoded). The signature is checked before anything in the
 * body is looked at.
 */
export async function twilioStatusRoute(scope: FastifyInstance, deps: ReceiptRouteDeps & { twilio: TwilioSettings }): Promise<void> {
  // Only Twilio's form encoding here; every other content type is 415.
  scope.removeAllContentTypeParsers();
  await scope.register(fastifyFormbody);

  scope.post(
    TWILIO_STATUS_PATH,
    {
      bodyLimit: BODY_LIMIT,
      // The signature is checked before the fields, which are read by twilioCallback.
      ...INPUT_CHECKED_BY_HANDLER,
      ...ANSWERED_AS_BUILT,
      schema: {
        operationId: 'twilioStatusCallback',
        summary: 'Twilio status callback',
        description:
          'The StatusCallback of messages sent through Twilio. Answered 200 whatever the id (Twilio retries anything else); 503 while PostgreSQL is unreachable, and Twilio sends it again.',
        tags: ['receipts'],
        security: SECURITY.twilioSignature,
        consumes: ['application/x-www-form-urlencoded'],
        body: StatusCallback,
        response: {
          200: receiptResults,
          ...errorResponses([...RECEIPT_ERRORS, 'UNSUPPORTED_MEDIA_TYPE'], { UNAUTHENTICATED: 'missing or invalid X-Twilio-Signature' }),
        },
      },
    },
    async (request, reply) => {
      const fields: FormFields = isFormFields(request.body) ? request.body : {};
      const url = deps.twilio.publicBaseUrl + request.url;
      const header = request.headers['x-twilio-signature'];
      if (!verifyTwilioSignature(deps.twilio.authToken, url, fields, typeof header === 'string' ? header : undefined)) {
        throw forged(deps, 'twilio', reply, 'X-Twilio-Signature');
      }
      const callback = twilioCallback(fields);
      if (callback.kind === 'invalid') {
        throw apiError('VALIDATION_FAILED', `${callback.field} is ${callback.problem}`, [
          { path: `/${callback.field}`, message: callback.problem },
        ]);
      }
      if (callback.kind === 'no_news') return recordReceipts(deps, 'twilio', [], 1);
      if (callback.kind === 'not_ours') return recordReceipts(deps, 'twilio', [], 0, 1);
      return recordReceipts(deps, 'twilio', [callback.receipt], 0);
    },
  );
}
