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
import { getMessage, listMessages, type KeyedMessage } from '@esh3ar/db';
import type { IngestMetrics } from '@esh3ar/observability';
import type { IngestEnqueuer, RedisKeys } from '@esh3ar/queue';
import { Job, type Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { toBufferedMessage } from '../accept.ts';
import { admit } from '../admission.ts';
import { apiError, unavailable } from '../errors.ts';
import type { Answer, Entry } from '../idempotency-record.ts';
import { batchFromStored, bodyHash, claimIdempotencyKey, defineIdempotency, singleFromStored, type Claim } from '../idempotency.ts';

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
      throw unavailable('the buffer', error);
    } finally {
      admittedUnwritten -= messages.length;
    }
    for (const m of messages) metrics.accepted.inc({ priority: m.priority });
  }

  defineIdempotency(deps.redis);

  /** What a POST answers if it is the first with its key, worked out before Redis or the buffer is asked anything. */
  interface Prepared {
    messages: BufferedMessage[];
    answer: Answer;
    /** The first request only: throws when backpressure refuses it, and counts what its answer refuses. */
    admit: () => void;
  }

  interface IdempotentRoute {
    prepare: (key: string | null) => Prepared;
    /** The answer's body (and Location): for the first request and for every repeat. */
    render: (answer: Answer) => { body: unknown; location?: string };
    /** What the messages stored under the key answered (Redis lost its record), or null when they came from another body. */
    fromStored: (stored: readonly KeyedMessage[]) => Answer | null;
  }

  function answered(reply: FastifyReply, rendered: { body: unknown; location?: string }, replayed: boolean) {
    if (rendered.location) reply.header('location', rendered.location);
    if (replayed) reply.header('idempotent-replayed', 'true');
    return reply.code(202).send(rendered.body);
  }

  /** Runs a POST once per Idempotency-Key; a repeat answers what the first answered (idempotency.ts). */
  async function withIdempotency(request: FastifyRequest, reply: FastifyReply, route: IdempotentRoute) {
    const header = validateIdempotencyKey(request.headers['idempotency-key']);
    if (!header.ok) {
      metrics.refused.inc({ reason: 'validation' });
      throw apiError('VALIDATION_FAILED', header.message, header.details);
    }
    const key = header.value;
    const prepared = route.prepare(key);
    if (key === null) {
      prepared.admit();
      await durably(prepared.messages);
      return answered(reply, route.render(prepared.answer), false);
    }
    // Outside the try below: a body it cannot hash is the sender's fault, not Redis's.
    const hash = bodyHash(request.body);
    let claim: Claim;
    try {
      claim = await claimIdempotencyKey(deps, { tenantId: request.tenant!.id, key, bodyHash: hash, answer: prepared.answer, fromStored: route.fromStored, log: request.log });
    } catch (error) {
      if ((error as { code?: string }).code === 'IDEMPOTENCY_KEY_REUSED') metrics.refused.inc({ reason: 'idempotency' });
      if ((error as { statusCode?: number }).statusCode) throw error;
      throw unavailable('the buffer', error);
    }
    if (claim.kind === 'replay') return answered(reply, route.render(claim.answer), true);
    // A lease not released expires in 10 s: the request's own error is the one to answer.
    const release = (buffered: boolean) => claim.release(buffered).catch((error: Error) => request.log.warn({ err: error }, 'Idempotency-Key lease not released'));
    try {
      prepared.admit();
    } catch (error) {
      await release(false);
      throw error;
    }
    try {
      await durably(prepared.messages);
    } catch (error) {
      await release(true);
      throw error;
    }
    // Not committed, the lease expires in 10 s, and the next repeat finds its ids buffered and replays them.
    await claim.commit().catch((error: Error) => request.log.warn({ err: error }, 'Idempotency-Key answer not recorded'));
    return answered(reply, route.render(prepared.answer), false);
  }

  app.post('/v1/messages', {
    bodyLimit: LIMITS.singleBodyBytes,
    config: { budget: 'send' },
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
    const tenantId = request.tenant!.id;
    return withIdempotency(request, reply, {
      prepare: (key) => {
        const message = toBufferedMessage(valid, tenantId, key, new Date());
        return { messages: [message], answer: { acceptedAt: message.acceptedAt, entries: [{ id: message.id }] }, admit: () => refuseIfOverloaded(valid.priority, 1) };
      },
      render: ({ acceptedAt, entries: [entry] }) => {
        // A single message is never refused once admitted: its answer holds its id.
        const id = entry !== undefined && 'id' in entry ? entry.id : '';
        return { body: { id, status: 'queued', acceptedAt }, location: `/v1/messages/${id}` };
      },
      fromStored: (stored) => singleFromStored(valid, stored),
    });
  });

  app.post('/v1/messages/batch', {
    bodyLimit: LIMITS.batchBodyBytes,
    config: { budget: 'send' },
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
    const tenantId = request.tenant!.id;
    return withIdempotency(request, reply, {
      prepare: (key) => {
        const now = new Date();
        const entries: Entry[] = [];
        const accepted: BufferedMessage[] = [];
        let depth = bufferDepth();
        const { buffer } = deps.runtime();
        for (const input of inputs) {
          const result = validateMessage(input);
          if (!result.ok) {
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
          if (entry.refused === 'OVERLOADED') return { index, error: { code: 'OVERLOADED', message: 'the buffer is over its watermark; retry later' } };
          // Its words are not recorded: the same body gives the same ones.
          const result = validateMessage(inputs[index]);
          return { index, error: { code: 'VALIDATION_FAILED', message: result.ok ? 'invalid message' : result.message } };
        });
        const accepted = results.filter((r) => 'id' in r).length;
        return { body: { accepted, rejected: results.length - accepted, results } };
      },
      fromStored: (stored) => batchFromStored(inputs, stored),
    });
  });

  app.get('/v1/messages/:id', { config: { budget: 'read' } }, async (request) => {
    const { id } = request.params as { id: string };
    const tenantId = request.tenant!.id;
    if (!UUID.test(id)) throw apiError('NOT_FOUND', 'no message with this id');
    const stored = await getMessage(deps.pool, tenantId, id).catch(unreachable('the message store'));
    if (stored) return stored;
    // Not stored yet: it may still be in the buffer.
    const indexed = await deps.redis.hget(deps.keys.bufferIndex, id).catch(unreachable('the buffer'));
    const [owner, jobId] = indexed?.split(' ') ?? [];
    if (owner === tenantId && jobId) {
      const job = await Job.fromId<{ messages: BufferedMessage[] }>(deps.queue, jobId).catch(unreachable('the buffer'));
      const message = job?.data.messages.find((m) => m.id === id);
      if (message) return queuedView(message);
      // Stored between our two reads.
      const late = await getMessage(deps.pool, tenantId, id).catch(unreachable('the message store'));
      if (late) return late;
    }
    throw apiError('NOT_FOUND', 'no message with this id');
  });

  app.get('/v1/messages', { schema: { querystring: ListQuery }, config: { budget: 'read' } }, async (request) => {
    const query = request.query as ListQuery;
    const limit = query.limit ?? LIMITS.listDefaultLimit;
    const afterId = query.cursor === undefined ? null : decodeCursor(query.cursor);
    const page = await listMessages(deps.pool, request.tenant!.id, { status: query.status ?? null, limit, afterId }).catch(unreachable('the message store'));
    return { items: page.items, nextCursor: page.hasMore && page.lastId ? encodeCursor(page.lastId) : null };
  });
}
