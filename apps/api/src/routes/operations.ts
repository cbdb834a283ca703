import type { ReadyResponse } from '@esh3ar/contracts';
import { readiness, type IngestMetrics } from '@esh3ar/observability';
import type { IngestEnqueuer, RedisKeys } from '@esh3ar/queue';
import { breakerStates } from '@esh3ar/queue/breaker-state';
import type { RuntimeConfig } from '@esh3ar/runtime';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Registry } from 'prom-client';

export interface OperationsDeps {
  pool: pg.Pool;
  redis: Redis;
  enqueuer: IngestEnqueuer;
  keys: RedisKeys;
  registry: Registry;
  metrics: IngestMetrics;
  runtime: () => RuntimeConfig;
}

export function operationsRoutes(app: FastifyInstance, deps: OperationsDeps): void {
  app.get('/health/live', async () => ({ status: 'ok' }));

  // Ready means "can accept": Redis is the intake path. PostgreSQL down only delays
  // storage (the buffer holds the messages), so it degrades readiness, not fails it.
  app.get('/health/ready', async (request, reply) => {
    // Shared by the workers through Redis: open while any worker's breaker is.
    const breakers = breakerStates(deps.redis, deps.keys.prefix).catch(() => ({}));
    const { statusCode, body } = await readiness(
      {
        redis: { run: () => deps.enqueuer.refreshDepth() },
        postgres: { run: () => deps.pool.query('SELECT 1'), failure: 'degraded' },
      },
      {
        logger: request.log,
        // The depth the Redis check has just refreshed.
        details: async () => {
          const { capacity } = deps.runtime().buffer;
          const depth = deps.enqueuer.depth;
          return { buffer: { depth, capacity, utilization: Math.round((depth / capacity) * 10_000) / 10_000 }, breakers: await breakers };
        },
      },
    );
    return reply.code(statusCode).send(body satisfies ReadyResponse);
  });

  app.get('/metrics', async (_request, reply) => {
    deps.metrics.bufferDepth.set(deps.enqueuer.depth);
    deps.metrics.bufferCapacity.set(deps.runtime().buffer.capacity);
    return reply.type(deps.registry.contentType).send(await deps.registry.metrics());
  });
}
