import {
  BatchResponse,
  LIMITS,
  SendMessageRequest,
  validateBatch,
  validateMessage,
  type BatchResult,
  type BufferedMessage,
} from '@esh3ar/contracts';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { toBufferedMessage } from '../accept.ts';
import { admit } from '../admission.ts';
import { apiError } from '../errors.ts';
import type { Entry } from '../idempotency-record.ts';
import { batchFromStored } from '../idempotency-stored.ts';
import {
  ANSWERED_AS_BUILT,
  API_KEY_ERRORS,
  BODY_ERRORS,
  errorResponses,
  INPUT_CHECKED_BY_HANDLER,
  json,
  named,
  SECURITY,
} from '../route-docs.ts';
import { EXAMPLE_ID, EXAMPLE_MESSAGES, IdempotencyHeaders, RATE_LIMIT_HEADERS } from './message-docs.ts';
import type { SendRouteDeps } from './send-message.ts';

/** The envelope as validateBatch checks it, with each message as validateMessage checks it, by index. */
const BatchBody = Type.Object(
  {
    messages: Type.Array(SendMessageRequest, {
      minItems: 1,
      maxItems: LIMITS.batchMaxMessages,
      description: 'An invalid message is refused in `results`, by its index; the others are sent',
    }),
  },
  { additionalProperties: false, 'x-examples': named({ twoMessages: { messages: [EXAMPLE_MESSAGES.sms, EXAMPLE_MESSAGES.email] } }) },
);

declare module 'fastify' {
  interface FastifyRequest {
    /** POST /v1/messages/batch: the envelope's messages, each still to be validated. */
    batchMessages: unknown[] | null;
  }
}

/** A refused message's words (a message validation passed has none of its own). */
const wordsOf = (result: ReturnType<typeof validateMessage>) => (result.ok ? 'invalid message' : result.message);

/** POST /v1/messages/batch: each message admitted or refused on its own, 202 once the admitted ones are in the buffer. */
export function sendBatchRoute(app: FastifyInstance, deps: SendRouteDeps): void {
  const { enqueuer, metrics } = deps;
  app.decorateRequest('batchMessages', null);

  app.post(
    '/v1/messages/batch',
    {
      bodyLimit: LIMITS.batchBodyBytes,
      config: { budget: 'send' },
      ...INPUT_CHECKED_BY_HANDLER,
      ...ANSWERED_AS_BUILT,
      schema: {
        operationId: 'sendMessageBatch',
        summary: 'Send up to 1000 messages',
        description:
          'Each message is checked and admitted on its own: `results` answers each by its index, with an id or an error. A batch whose messages are all refused is still a 202 with `accepted: 0`. Each message counts against the rate limit.',
        tags: ['messages'],
        security: SECURITY.apiKey,
        headers: IdempotencyHeaders,
        body: BatchBody,
        response: {
          202: json(
            'Accepted: the admitted messages are in the buffer',
            BatchResponse,
            {
              mixed: {
                accepted: 1,
                rejected: 2,
                results: [
                  { index: 0, id: EXAMPLE_ID, status: 'queued' },
                  { index: 1, error: { code: 'VALIDATION_FAILED', message: '"recipient" is required' } },
                  { index: 2, error: { code: 'OVERLOADED', message: 'the buffer is over its watermark; retry later' } },
                ],
              },
            },
            RATE_LIMIT_HEADERS,
          ),
          ...errorResponses([...API_KEY_ERRORS, ...BODY_ERRORS, 'IDEMPOTENCY_KEY_REUSED']),
        },
      },
      // Checked here rather than by Fastify's Ajv, which would coerce `"messages": "x"` into an array.
      preValidation: async (request) => {
        const envelope = validateBatch(request.body);
        if (!envelope.ok) {
          metrics.refused.inc({ reason: 'validation' });
          throw apiError('VALIDATION_FAILED', envelope.message, envelope.details);
        }
        request.batchMessages = envelope.value;
        request.messageCost = envelope.value.length;
      },
    },
    async (request, reply) => {
      const inputs = request.batchMessages!;
      const tenantId = request.tenant!.id;
      // Why each refused message was refused, as prepare found it: render needs not validate it again.
      const refusedWords = new Map<number, string>();
      return deps.replyOnce(request, reply, {
        prepare: (key) => {
          const now = new Date();
          const entries: Entry[] = [];
          const accepted: BufferedMessage[] = [];
          let depth = enqueuer.admittedDepth;
          const { buffer } = deps.runtime();
          for (const input of inputs) {
            const result = validateMessage(input);
            if (!result.ok) {
              refusedWords.set(entries.length, result.message);
              entries.push({ refused: 'VALIDATION_FAILED' });
              continue;
            }
            if (deps.backpressure && !admit(result.value.priority, depth, 1, buffer).admitted) {
              entries.push({ refused: 'OVERLOADED' });
              continue;
            }
            depth++;
            const message = toBufferedMessage(result.value, tenantId, key, now);
            accepted.push(message);
            entries.push({ id: message.id });
          }
          const admitAnswer = () => {
            const invalid = entries.filter((e) => 'refused' in e && e.refused === 'VALIDATION_FAILED').length;
            const overloaded = entries.length - accepted.length - invalid;
            if (invalid > 0) metrics.refused.inc({ reason: 'validation' }, invalid);
            if (overloaded > 0) metrics.refused.inc({ reason: 'backpressure' }, overloaded);
          };
          return { messages: accepted, answer: { acceptedAt: now.toISOString(), entries }, admit: admitAnswer };
        },
        render: ({ entries }) => {
          const results = entries.map((entry, index): BatchResult => {
            if ('id' in entry) return { index, id: entry.id, status: 'queued' };
            if (entry.refused === 'OVERLOADED')
              return { index, error: { code: 'OVERLOADED', message: 'the buffer is over its watermark; retry later' } };
            // Its words are not recorded with the key: a repeat of the same body finds the same ones.
            const words = refusedWords.get(index) ?? wordsOf(validateMessage(inputs[index]));
            return { index, error: { code: 'VALIDATION_FAILED', message: words } };
          });
          const accepted = results.filter((r) => 'id' in r).length;
          return { body: { accepted, rejected: results.length - accepted, results } };
        },
        fromStored: (stored) => batchFromStored(inputs, stored),
      });
    },
  );
}
