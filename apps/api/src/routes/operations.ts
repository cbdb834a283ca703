import type { RuntimeConfig } from '@esh3ar/config';
import type { ReadyResponse } from '@esh3ar/contracts';
import type { IngestMetrics } from '@esh3ar/observability';
import { breakerStates, type IngestEnqueuer, type RedisKeys } from '@esh3ar/queue';
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

const CHECK_TIMEOUT_MS = 1000;

async function probe(check: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (error) {
    return `error: ${(error as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

export function operationsRoutes(app: FastifyInstance, deps: OperationsDeps): void {
  app.get('/health/live', async () => ({ status: 'ok' }));

  // Ready means "can accept": Redis is the intake path. PostgreSQL down only delays
  // storage (the buffer holds the messages), so it degrades readiness, not fails it.
  app.get('/health/ready', async (_request, reply) => {
    const [redis, postgres, breakers] = await Promise.all([
      probe(() => deps.enqueuer.refreshDepth()),
      probe(() => deps.pool.query('SELECT 1')),
      // Shared by the workers through Redis: open while any worker's breaker is.
      breakerStates(deps.redis, deps.keys.prefix).catch(() => ({})),
    ]);
    const { capacity } = deps.runtime().buffer;
    const depth = deps.enqueuer.depth;
    const body: ReadyResponse = {
      status: redis !== 'ok' ? 'unavailable' : postgres !== 'ok' ? 'degraded' : 'ok',
      checks: { redis, postgres, buffer: { depth, capacity, utilization: Math.round((depth / capacity) * 10_000) / 10_000 }, breakers },
    };
    return reply.code(redis === 'ok' ? 200 : 503).send(body);
  });

  app.get('/metrics', async (_request, reply) => {
    deps.metrics.bufferDepth.set(deps.enqueuer.depth);
    deps.metrics.bufferCapacity.set(deps.runtime().buffer.capacity);
    return reply.type(deps.registry.contentType).send(await deps.registry.metrics());
  });
}
