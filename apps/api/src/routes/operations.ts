import type { RuntimeConfig } from '@esh3ar/config';
import type { ReadyResponse } from '@esh3ar/contracts';
import type { IngestMetrics } from '@esh3ar/observability';
import { breakerStates, type IngestEnqueuer, type RedisKeys } from '@esh3ar/queue';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
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

class ProbeTimeout extends Error {}

/**
 * 'ok', or an error in words that name no host, port or driver: /health/ready answers
 * anyone who asks. The driver's error goes to the log (debug: the connection's own
 * error listeners already warn once per failure, not once per probe).
 */
async function probe(name: string, check: () => Promise<unknown>, log: FastifyBaseLogger): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new ProbeTimeout()), CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (error) {
    if (error instanceof ProbeTimeout) return `error: no answer within ${CHECK_TIMEOUT_MS} ms`;
    log.debug({ err: error, check: name }, 'readiness check failed');
    return 'error: unreachable';
  } finally {
    clearTimeout(timer);
  }
}

export function operationsRoutes(app: FastifyInstance, deps: OperationsDeps): void {
  app.get('/health/live', async () => ({ status: 'ok' }));

  // Ready means "can accept": Redis is the intake path. PostgreSQL down only delays
  // storage (the buffer holds the messages), so it degrades readiness, not fails it.
  app.get('/health/ready', async (request, reply) => {
    const [redis, postgres, breakers] = await Promise.all([
      probe('redis', () => deps.enqueuer.refreshDepth(), request.log),
      probe('postgres', () => deps.pool.query('SELECT 1'), request.log),
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
