import { validateIdempotencyKey, type BufferedMessage } from '@esh3ar/contracts';
import type { KeyedMessage } from '@esh3ar/db';
import type { IngestMetrics } from '@esh3ar/observability';
import { replicaWait, type IngestEnqueuer, type RedisClient, type RedisKeys } from '@esh3ar/queue';
import type { Queue } from 'bullmq';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { apiError, unavailable } from './errors.ts';
import type { Answer } from './idempotency-record.ts';
import { bodyHash, claimIdempotencyKey, defineIdempotency, type Claim } from './idempotency.ts';

export interface IdempotentReplyDeps {
  pool: pg.Pool;
  /** Request-path Redis: the idempotency scripts are defined on it. */
  redis: RedisClient;
  keys: RedisKeys;
  /** The ingest queues (whether an expired lease's messages are really buffered). */
  ingestQueues: readonly Queue[];
  enqueuer: IngestEnqueuer;
  metrics: IngestMetrics;
}

/** What a POST answers if it is the first with its key, worked out before Redis or the buffer is asked anything. */
export interface Prepared {
  messages: BufferedMessage[];
  answer: Answer;
  /** The first request only: throws when backpressure refuses it, and counts what its answer refuses. */
  admit: () => void;
}

export interface IdempotentRoute {
  prepare: (key: string | null) => Prepared;
  /** The answer's body (and Location): for the first request and for every repeat. */
  render: (answer: Answer) => { body: unknown; location?: string };
  /** What the messages stored under the key answered (Redis lost its record), or null when they came from another body. */
  fromStored: (stored: readonly KeyedMessage[]) => Answer | null;
}

/** Answers a POST that buffers messages: 202 once they are durable, the same answer to every repeat of its Idempotency-Key. */
export type ReplyOnce = (request: FastifyRequest, reply: FastifyReply, route: IdempotentRoute) => Promise<FastifyReply>;

function answered(reply: FastifyReply, rendered: { body: unknown; location?: string }, replayed: boolean): FastifyReply {
  if (rendered.location) reply.header('location', rendered.location);
  if (replayed) reply.header('idempotent-replayed', 'true');
  return reply.code(202).send(rendered.body);
}

/** Runs a POST once per Idempotency-Key; a repeat answers what the first answered (idempotency.ts). */
export function idempotentReplies(deps: IdempotentReplyDeps): ReplyOnce {
  const { enqueuer, metrics } = deps;
  defineIdempotency(deps.redis);
  // A lease is kept by as many replicas as the messages are.
  const claimDeps = {
    ...deps,
    leaseReplicas: replicaWait(deps.redis, enqueuer.waitReplicas),
    confirmBuffered: (queues: readonly string[]) => enqueuer.confirmReplicated(queues),
  };

  async function durably(messages: BufferedMessage[]): Promise<void> {
    try {
      // One message (most requests): its own promise, not an array of them.
      await (messages.length === 1 ? enqueuer.enqueue(messages[0]!) : Promise.all(messages.map((m) => enqueuer.enqueue(m))));
    } catch (error) {
      metrics.refused.inc({ reason: 'unavailable' }, messages.length);
      throw unavailable('the buffer', error);
    }
    for (const m of messages) metrics.accepted.inc({ priority: m.priority });
  }

  return async function replyOnce(request, reply, route) {
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
      claim = await claimIdempotencyKey(claimDeps, {
        tenantId: request.tenant!.id,
        key,
        bodyHash: hash,
        answer: prepared.answer,
        fromStored: route.fromStored,
        log: request.log,
      });
    } catch (error) {
      if ((error as { code?: string }).code === 'IDEMPOTENCY_KEY_REUSED') metrics.refused.inc({ reason: 'idempotency' });
      if ((error as { statusCode?: number }).statusCode) throw error;
      throw unavailable('the buffer', error);
    }
    if (claim.kind === 'replay') return answered(reply, route.render(claim.answer), true);
    // A lease not released expires in 10 s: the request's own error is the one to answer.
    const release = (buffered: boolean) =>
      claim.release(buffered).catch((error: Error) => request.log.warn({ err: error }, 'Idempotency-Key lease not released'));
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
  };
}
