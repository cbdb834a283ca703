import {
  isUuid,
  LIMITS,
  ListQuery,
  MessageList,
  MessageView,
  smsCostOf,
  type BufferedMessage,
  type MessageSummary,
} from '@esh3ar/contracts';
import { getMessage, listMessages } from '@esh3ar/db';
import { findBuffered, type RedisClient, type RedisKeys } from '@esh3ar/queue';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { Type } from 'typebox';
import { apiError, unavailable } from '../errors.ts';
import { ANSWERED_AS_BUILT, API_KEY_ERRORS, errorResponses, json, SECURITY } from '../route-docs.ts';
import { EXAMPLE_ID, EXAMPLE_VIEW, RATE_LIMIT_HEADERS } from './message-docs.ts';

export interface ReadRouteDeps {
  pool: pg.Pool;
  /** Request-path Redis: the buffer index is read on it. */
  redis: RedisClient;
  /** The ingest queues: a queued message is read from its job. */
  ingestQueues: readonly Queue[];
  keys: RedisKeys;
}

const summaryOf = ({ events: _events, ...summary }: MessageView): MessageSummary => summary;

// No pattern: an id that is no UUID is answered 404 like an unknown one, not 400.
const MessageParams = Type.Object({ id: Type.String() });

/** A promise's rejection as 503 UNAVAILABLE: `.catch(unreachable('the buffer'))`. */
const unreachable =
  (what: string) =>
  (error: unknown): never => {
    throw unavailable(what, error);
  };

function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!isUuid(id))
    throw apiError('VALIDATION_FAILED', 'cursor is not one this api returned', [{ path: '/cursor', message: 'invalid cursor' }]);
  return id;
}

/** A message the buffer holds, as GET answers it: its sendAt as requested, held by nothing yet. */
function queuedView(m: BufferedMessage): MessageView {
  return {
    id: m.id,
    status: 'queued',
    recipient: m.recipient,
    channel: m.channel,
    priority: m.priority,
    subject: m.subject,
    content: m.content,
    metadata: m.metadata,
    attempts: 0,
    createdAt: m.acceptedAt,
    updatedAt: m.acceptedAt,
    deliveredAt: null,
    failureReason: null,
    sms: smsCostOf(m.channel, m.content),
    sendAt: m.sendAt ?? null,
    heldReason: null,
    events: [{ status: 'queued', at: m.acceptedAt, detail: null }],
  };
}

/** GET /v1/messages/:id (stored, else still in the buffer) and GET /v1/messages (stored, newest first). */
export function readMessageRoutes(app: FastifyInstance, deps: ReadRouteDeps): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();

  typed.get(
    '/v1/messages/:id',
    {
      ...ANSWERED_AS_BUILT,
      schema: {
        operationId: 'getMessage',
        summary: 'Read a message and its events',
        description: 'A message still in the buffer is answered `queued`, read from there; once stored, from PostgreSQL.',
        tags: ['messages'],
        security: SECURITY.apiKey,
        params: MessageParams,
        response: {
          200: json('The message, its events oldest first', MessageView, { delivered: EXAMPLE_VIEW }, RATE_LIMIT_HEADERS),
          ...errorResponses([...API_KEY_ERRORS, 'NOT_FOUND']),
        },
      },
      config: { budget: 'read' },
    },
    async (request) => {
      const tenantId = request.tenant!.id;
      if (!isUuid(request.params.id)) throw apiError('NOT_FOUND', 'no message with this id');
      // As the api writes ids, in lower case: the buffer and the gateways compare them as
      // strings, and a UUID's upper-case form is the same id.
      const id = request.params.id.toLowerCase();
      // The buffer first, then PostgreSQL: a worker commits a message's row before it
      // removes the buffer's index entry, so a message not (or no longer) in the buffer
      // is in PostgreSQL by the time this reads it. Read the other way round, a message
      // stored between the two reads was found in neither: 5 in 120 GETs right after a
      // 202 answered 404 while a worker was storing.
      const buffered = await findBuffered(deps.redis, deps.ingestQueues, deps.keys, tenantId, id).catch((error: unknown) => ({
        kind: 'failed' as const,
        error,
      }));
      if (buffered.kind === 'queued') {
        // Its row wins: a message canceled while queued is stored as canceled while its job
        // still waits. PostgreSQL unreachable: answered from the buffer, as before it had rows.
        const row = await getMessage(deps.pool, tenantId, id).catch((error: unknown) => {
          request.log.warn({ err: error }, 'the message store is unreachable; answering from the buffer');
          return null;
        });
        return row ?? queuedView(buffered.message);
      }
      const stored = await getMessage(deps.pool, tenantId, id).catch(unreachable('the message store'));
      if (stored) return stored;
      // Redis down: a stored message is still answered; one not found may be buffered.
      if (buffered.kind === 'failed') throw unavailable('the buffer', buffered.error);
      throw apiError('NOT_FOUND', 'no message with this id');
    },
  );

  typed.get(
    '/v1/messages',
    {
      ...ANSWERED_AS_BUILT,
      schema: {
        operationId: 'listMessages',
        summary: 'List stored messages, newest first',
        description: 'Keyset-paged: pass `nextCursor` as `cursor` for the next page; pages never repeat or skip a message.',
        tags: ['messages'],
        security: SECURITY.apiKey,
        querystring: ListQuery,
        response: {
          200: json(
            'A page of messages',
            MessageList,
            { page: { items: [summaryOf(EXAMPLE_VIEW)], nextCursor: Buffer.from(EXAMPLE_ID).toString('base64url') } },
            RATE_LIMIT_HEADERS,
          ),
          ...errorResponses([...API_KEY_ERRORS, 'VALIDATION_FAILED']),
        },
      },
      config: { budget: 'read' },
    },
    async (request) => {
      const query = request.query;
      const limit = query.limit ?? LIMITS.listDefaultLimit;
      const afterId = query.cursor === undefined ? null : decodeCursor(query.cursor);
      const page = await listMessages(deps.pool, request.tenant!.id, { status: query.status ?? null, limit, afterId }).catch(
        unreachable('the message store'),
      );
      return { items: page.items, nextCursor: page.hasMore && page.lastId ? encodeCursor(page.lastId) : null };
    },
  );
}
