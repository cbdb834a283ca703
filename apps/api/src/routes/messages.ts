import {
  AcceptedResponse,
  LIMITS,
  ListQuery,
  validateBatch,
  validateIdempotencyKey,
  validateMessage,
  type BatchResult,
  type BufferedMessage,
  type MessageView,
  type Priority,
  type ValidMessage,
} from '@esh3ar/contracts';
import type { RuntimeConfig } from '@esh3ar/config';
import { getMessage, listMessages } from '@esh3ar/db';
import type { IngestMetrics } from '@esh3ar/observability';
import type { IngestEnqueuer, RedisKeys } from '@esh3ar/queue';
import { Job, type Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { toBufferedMessage } from '../accept.ts';
import { admit } from '../admission.ts';
import { apiError } from '../errors.ts';
import { bodyHash, claimIdempotencyKey, type Claim } from '../idempotency.ts';

export interface MessageRouteDeps {
  pool: pg.Pool;
  redis: Redis;
  queue: Queue;
  keys: RedisKeys;
  enqueuer: IngestEnqueuer;
  metrics: IngestMetrics;
  runtime: () => RuntimeConfig;
  /** Off only to measure what it costs (API_BACKPRESSURE=off, bench/limiter-overhead.ts). */
  backpressure: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    validMessage?: ValidMessage;
    batchMessages?: unknown[];
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Time for the workers to drain the watermark's worth: a hint, not a promise.
const OVERLOAD_RETRY_AFTER_SECONDS = 2;

function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!UUID.test(id)) throw apiError('VALIDATION_FAILED', 'cursor is not one this api returned', [{ path: '/cursor', message: 'invalid cursor' }]);
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
    events: [{ status: 'queued', at: m.acceptedAt, detail: null }],
  };
}

export function messageRoutes(app: FastifyInstance, deps: MessageRouteDeps): void {
  const { enqueuer, metrics } = deps;
  // Admitted here but not yet in the depth Redis last reported: without them, the
  // requests of one busy tick would all see the same depth and overshoot capacity.
  let admittedUnwritten = 0;
  const bufferDepth = () => enqueuer.depth + admittedUnwritten;

  function refuseIfOverloaded(priority: Priority, incoming: number): void {
    if (!deps.backpressure) return;
    const decision = admit(priority, bufferDepth(), incoming, deps.runtime().buffer);
    if (!decision.admitted) {
      metrics.refused.inc({ reason: 'backpressure' }, incoming);
      throw apiError('OVERLOADED', `the buffer is ${decision.reason === 'capacity' ? 'full' : 'over its watermark'}; retry later`, [], OVERLOAD_RETRY_AFTER_SECONDS);
    }
  }

  async function durably(messages: BufferedMessage[]): Promise<void> {
    admittedUnwritten += messages.length;
    try {
      await Promise.all(messages.map((m) => enqueuer.enqueue(m)));
    } catch (error) {
      metrics.refused.inc({ reason: 'unavailable' }, messages.length);
      throw apiError('UNAVAILABLE', `the buffer is unreachable: ${(error as Error).message}`, [], 1);
    } finally {
      admittedUnwritten -= messages.length;
    }
    for (const m of messages) metrics.accepted.inc({ priority: m.priority });
  }

  /** Runs `produce` once per Idempotency-Key; a repeat answers what the first answered. */
  async function withIdempotency(request: FastifyRequest, reply: FastifyReply, produce: (key: string | null) => Promise<{ body: unknown; location?: string }>) {
    const header = validateIdempotencyKey(request.headers['idempotency-key']);
    if (!header.ok) {
      metrics.refused.inc({ reason: 'validation' });
      throw apiError('VALIDATION_FAILED', header.message, header.details);
    }
    const key = header.value;
    if (key === null) {
      const { body, location } = await produce(null);
      if (location) reply.header('location', location);
      return reply.code(202).send(body);
    }
    // Outside the try below: a body it cannot hash is the sender's fault, not Redis's.
    const hash = bodyHash(request.body);
    let claim: Claim;
    try {
      claim = await claimIdempotencyKey(deps.redis, deps.keys.idempotency(request.tenant!.id, key), hash);
    } catch (error) {
      if ((error as { code?: string }).code === 'IDEMPOTENCY_KEY_REUSED') metrics.refused.inc({ reason: 'idempotency' });
      if ((error as { statusCode?: number }).statusCode) throw error;
      throw apiError('UNAVAILABLE', `the buffer is unreachable: ${(error as Error).message}`, [], 1);
    }
    if (claim.kind === 'replay') {
      if (claim.location) reply.header('location', claim.location);
      return reply.code(202).header('idempotent-replayed', 'true').send(claim.response);
    }
    let answer: { body: unknown; location?: string };
    try {
      answer = await produce(key);
    } catch (error) {
      await claim.release().catch(() => undefined); // the key expires in 24 h anyway
      throw error;
    }
    await claim.commit(answer.body, answer.location).catch((error: Error) => request.log.error({ err: error }, 'idempotency record not saved'));
    if (answer.location) reply.header('location', answer.location);
    return reply.code(202).send(answer.body);
  }

  app.post('/v1/messages', {
    bodyLimit: LIMITS.singleBodyBytes,
    config: { rateLimit: {} },
    // Serialized by a compiled fast-json-stringify function rather than JSON.stringify.
    schema: { response: { 202: AcceptedResponse } },
    preValidation: async (request) => {
      const result = validateMessage(request.body);
      if (!result.ok) {
        metrics.refused.inc({ reason: 'validation' });
        throw apiError('VALIDATION_FAILED', result.message, result.details);
      }
      request.validMessage = result.value;
      request.messageCost = 1;
    },
  }, async (request, reply) => {
    const valid = request.validMessage!;
    return withIdempotency(request, reply, async (key) => {
      refuseIfOverloaded(valid.priority, 1);
      const message = toBufferedMessage(valid, request.tenant!.id, key, new Date());
      await durably([message]);
      return { body: { id: message.id, status: 'queued', acceptedAt: message.acceptedAt }, location: `/v1/messages/${message.id}` };
    });
  });

  app.post('/v1/messages/batch', {
    bodyLimit: LIMITS.batchBodyBytes,
    config: { rateLimit: {} },
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
  }, async (request, reply) => {
    const inputs = request.batchMessages!;
    return withIdempotency(request, reply, async (key) => {
      const now = new Date();
      const results: BatchResult[] = [];
      const accepted: BufferedMessage[] = [];
      let depth = bufferDepth();
      const { buffer } = deps.runtime();
      inputs.forEach((input, index) => {
        const result = validateMessage(input);
        if (!result.ok) {
          metrics.refused.inc({ reason: 'validation' });
          results.push({ index, error: { code: 'VALIDATION_FAILED', message: result.message } });
          return;
        }
        const decision = deps.backpressure ? admit(result.value.priority, depth, 1, buffer) : { admitted: true };
        if (!decision.admitted) {
          metrics.refused.inc({ reason: 'backpressure' });
          results.push({ index, error: { code: 'OVERLOADED', message: 'the buffer is over its watermark; retry later' } });
          return;
        }
        depth++;
        const message = toBufferedMessage(result.value, request.tenant!.id, key, now);
        accepted.push(message);
        results.push({ index, id: message.id, status: 'queued' });
      });
      await durably(accepted);
      return { body: { accepted: accepted.length, rejected: inputs.length - accepted.length, results } };
    });
  });

  app.get('/v1/messages/:id', async (request) => {
    const { id } = request.params as { id: string };
    const tenantId = request.tenant!.id;
    if (!UUID.test(id)) throw apiError('NOT_FOUND', 'no message with this id');
    const stored = await getMessage(deps.pool, tenantId, id).catch((error: Error) => {
      throw apiError('UNAVAILABLE', `the message store is unreachable: ${error.message}`, [], 1);
    });
    if (stored) return stored;
    // Not stored yet: it may still be in the buffer.
    const indexed = await deps.redis.hget(deps.keys.bufferIndex, id);
    const [owner, jobId] = indexed?.split(' ') ?? [];
    if (owner === tenantId && jobId) {
      const job = await Job.fromId<{ messages: BufferedMessage[] }>(deps.queue, jobId);
      const message = job?.data.messages.find((m) => m.id === id);
      if (message) return queuedView(message);
      // Stored between our two reads.
      const late = await getMessage(deps.pool, tenantId, id);
      if (late) return late;
    }
    throw apiError('NOT_FOUND', 'no message with this id');
  });

  app.get('/v1/messages', { schema: { querystring: ListQuery } }, async (request) => {
    const query = request.query as ListQuery;
    const limit = query.limit ?? LIMITS.listDefaultLimit;
    const afterId = query.cursor === undefined ? null : decodeCursor(query.cursor);
    const page = await listMessages(deps.pool, request.tenant!.id, { status: query.status ?? null, limit, afterId }).catch((error: Error) => {
      throw apiError('UNAVAILABLE', `the message store is unreachable: ${error.message}`, [], 1);
    });
    return { items: page.items, nextCursor: page.hasMore && page.lastId ? encodeCursor(page.lastId) : null };
  });
}
