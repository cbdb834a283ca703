import { AcceptedResponse, LIMITS, validateMessage, type Priority, type ValidMessage } from '@esh3ar/contracts';
import type { IngestMetrics } from '@esh3ar/observability';
import type { IngestEnqueuer } from '@esh3ar/queue';
import type { RuntimeConfig } from '@esh3ar/runtime';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { toBufferedMessage } from '../accept.ts';
import { admit } from '../admission.ts';
import { apiError } from '../errors.ts';
import { API_KEY_ERRORS, BODY_ERRORS, errorResponses, INPUT_CHECKED_BY_HANDLER, json, SECURITY } from '../route-docs.ts';
import { EXAMPLE_AT, EXAMPLE_ID, IdempotencyHeaders, MessageBody, RATE_LIMIT_HEADERS } from './message-docs.ts';
import type { ReplyOnce } from '../idempotent-reply.ts';
import { singleFromStored } from '../idempotency-stored.ts';

/** What both POST routes (single and batch) need. */
export interface SendRouteDeps {
  enqueuer: IngestEnqueuer;
  metrics: IngestMetrics;
  runtime: () => RuntimeConfig;
  /** Off only to measure what it costs (API_BACKPRESSURE=off, bench/ingest/limiter-overhead.ts). */
  backpressure: boolean;
  replyOnce: ReplyOnce;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** POST /v1/messages: the body, once preValidation has checked it. */
    validMessage: ValidMessage | null;
  }
}

// Time for the workers to drain the watermark's worth: a hint, not a promise.
const OVERLOAD_RETRY_AFTER_SECONDS = 2;

/** POST /v1/messages: one message, 202 once it is in the buffer. */
export function sendMessageRoute(app: FastifyInstance, deps: SendRouteDeps): void {
  const { enqueuer, metrics } = deps;
  app.decorateRequest('validMessage', null);

  function refuseIfOverloaded(priority: Priority, incoming: number): void {
    if (!deps.backpressure) return;
    const decision = admit(priority, enqueuer.admittedDepth, incoming, deps.runtime().buffer);
    if (!decision.admitted) {
      metrics.refused.inc({ reason: 'backpressure' }, incoming);
      throw apiError(
        'OVERLOADED',
        `the buffer is ${decision.reason === 'capacity' ? 'full' : 'over its watermark'}; retry later`,
        [],
        OVERLOAD_RETRY_AFTER_SECONDS,
      );
    }
  }

  app.withTypeProvider<TypeBoxTypeProvider>().post(
    '/v1/messages',
    {
      bodyLimit: LIMITS.singleBodyBytes,
      config: { budget: 'send' },
      // The body and Idempotency-Key are checked in preValidation, in words Ajv does not have.
      ...INPUT_CHECKED_BY_HANDLER,
      schema: {
        operationId: 'sendMessage',
        summary: 'Send a message',
        description:
          'Answered 202 once the message is durable in the buffer; it is stored within a second. `channel` defaults to app (push), `priority` to normal. Unknown fields are refused.',
        tags: ['messages'],
        security: SECURITY.apiKey,
        headers: IdempotencyHeaders,
        body: MessageBody,
        response: {
          // Serialized by a compiled fast-json-stringify function rather than JSON.stringify.
          202: json(
            'Accepted: in the buffer',
            AcceptedResponse,
            { queued: { id: EXAMPLE_ID, status: 'queued', acceptedAt: EXAMPLE_AT } },
            { location: Type.String({ description: 'The message: /v1/messages/{id}' }), ...RATE_LIMIT_HEADERS },
          ),
          ...errorResponses([...API_KEY_ERRORS, ...BODY_ERRORS, 'IDEMPOTENCY_KEY_REUSED']),
        },
      },
      // A callback hook (a throw is answered as an error): no promise per request.
      preValidation: (request, _reply, done) => {
        const result = validateMessage(request.body);
        if (!result.ok) {
          metrics.refused.inc({ reason: 'validation' });
          throw apiError('VALIDATION_FAILED', result.message, result.details);
        }
        request.validMessage = result.value;
        request.messageCost = 1;
        done();
      },
    },
    async (request, reply) => {
      const valid = request.validMessage!;
      const tenantId = request.tenant!.id;
      return deps.replyOnce(request, reply, {
        prepare: (key) => {
          const message = toBufferedMessage(valid, tenantId, key, new Date());
          return {
            messages: [message],
            answer: { acceptedAt: message.acceptedAt, entries: [{ id: message.id }] },
            admit: () => refuseIfOverloaded(valid.priority, 1),
          };
        },
        render: ({ acceptedAt, entries: [entry] }) => {
          // A single message is never refused once admitted: its answer holds its id.
          const id = entry !== undefined && 'id' in entry ? entry.id : '';
          return { body: { id, status: 'queued', acceptedAt }, location: `/v1/messages/${id}` };
        },
        fromStored: (stored) => singleFromStored(valid, stored),
      });
    },
  );
}
