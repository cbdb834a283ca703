import type { IngestMetrics } from '@esh3ar/observability';
import type { IngestEnqueuer, RedisClient, RedisKeys } from '@esh3ar/queue';
import type { RuntimeConfig } from '@esh3ar/runtime';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { idempotentReplies } from '../idempotent-reply.ts';
import { cancelBulkRoute } from './cancel-bulk.ts';
import { cancelMessageRoute } from './cancel-message.ts';
import { readMessageRoutes } from './read-messages.ts';
import { sendBatchRoute } from './send-batch.ts';
import { sendMessageRoute } from './send-message.ts';

export interface MessageRouteDeps {
  pool: pg.Pool;
  redis: RedisClient;
  ingestQueues: readonly Queue[];
  keys: RedisKeys;
  enqueuer: IngestEnqueuer;
  metrics: IngestMetrics;
  runtime: () => RuntimeConfig;
  /** Off only to measure what it costs (API_BACKPRESSURE=off, bench/ingest/limiter-overhead.ts). */
  backpressure: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Messages this request asks to send (a batch counts each): what it costs its rate limit (rate-limit.ts). */
    messageCost: number | null;
  }
}

/** The /v1/messages routes: send one, send a batch, read, cancel. */
export function messageRoutes(app: FastifyInstance, deps: MessageRouteDeps): void {
  app.decorateRequest('messageCost', null);
  const replyOnce = idempotentReplies(deps);
  sendMessageRoute(app, { ...deps, replyOnce });
  sendBatchRoute(app, { ...deps, replyOnce });
  readMessageRoutes(app, deps);
  cancelMessageRoute(app, deps);
  cancelBulkRoute(app, deps);
}
