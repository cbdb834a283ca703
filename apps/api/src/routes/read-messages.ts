import { isUuid, LIMITS, ListQuery, smsCostOf, type BufferedMessage, type MessageView } from '@esh3ar/contracts';
import { getMessage, listMessages } from '@esh3ar/db';
import { findBuffered, type RedisKeys } from '@esh3ar/queue';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { Type } from 'typebox';
import { apiError, unavailable } from '../errors.ts';

export interface ReadRouteDeps {
  pool: pg.Pool;
  /** Request-path Redis: the buffer index is read on it. */
  redis: Redis;
  /** The ingest queue: a queued message is read from its job. */
  queue: Queue;
  keys: RedisKeys;
}

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
    events: [{ status: 'queued', at: m.acceptedAt, detail: null }],
  };
}

/** GET /v1/messages/:id (stored, else still in the buffer) and GET /v1/messages (stored, newest first). */
export function readMessageRoutes(app: FastifyInstance, deps: ReadRouteDeps): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();

  typed.get('/v1/messages/:id', { schema: { params: MessageParams }, config: { budget: 'read' } }, async (request) => {
    const { id } = request.params;
    const tenantId = request.tenant!.id;
    if (!isUuid(id)) throw apiError('NOT_FOUND', 'no message with this id');
    const stored = await getMessage(deps.pool, tenantId, id).catch(unreachable('the message store'));
    if (stored) return stored;
    // Not stored yet: it may still be in the buffer.
    const buffered = await findBuffered(deps.redis, deps.queue, deps.keys, tenantId, id).catch(unreachable('the buffer'));
    if (buffered.kind === 'queued') return queuedView(buffered.message);
    if (buffered.kind === 'left') {
      // Stored between our two reads.
      const late = await getMessage(deps.pool, tenantId, id).catch(unreachable('the message store'));
      if (late) return late;
    }
    throw apiError('NOT_FOUND', 'no message with this id');
  });

  typed.get('/v1/messages', { schema: { querystring: ListQuery }, config: { budget: 'read' } }, async (request) => {
    const query = request.query;
    const limit = query.limit ?? LIMITS.listDefaultLimit;
    const afterId = query.cursor === undefined ? null : decodeCursor(query.cursor);
    const page = await listMessages(deps.pool, request.tenant!.id, { status: query.status ?? null, limit, afterId }).catch(
      unreachable('the message store'),
    );
    return { items: page.items, nextCursor: page.hasMore && page.lastId ? encodeCursor(page.lastId) : null };
  });
}
