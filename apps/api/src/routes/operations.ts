import { ReadyResponse } from '@esh3ar/contracts';
import { readiness, type IngestMetrics } from '@esh3ar/observability';
import type { IngestEnqueuer, RedisClient, RedisKeys } from '@esh3ar/queue';
import { breakerStates } from '@esh3ar/queue/breaker-state';
import type { RuntimeConfig } from '@esh3ar/runtime';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { Type } from 'typebox';
import { ANSWERED_AS_BUILT, errorResponses, json, named, SECURITY } from '../route-docs.ts';

export interface OperationsDeps {
  pool: pg.Pool;
  redis: RedisClient;
  enqueuer: IngestEnqueuer;
  keys: RedisKeys;
  registry: Registry;
  metrics: IngestMetrics;
  runtime: () => RuntimeConfig;
}

const READY: ReadyResponse = {
  status: 'ok',
  checks: {
    redis: 'ok',
    postgres: 'ok',
    buffer: { depth: 1200, capacity: 100_000, utilization: 0.012 },
    breakers: { sms: 'closed', whatsapp: 'closed', email: 'closed' },
  },
};

export function operationsRoutes(app: FastifyInstance, deps: OperationsDeps): void {
  app.get(
    '/health/live',
    {
      ...ANSWERED_AS_BUILT,
      schema: {
        operationId: 'live',
        summary: 'Liveness: the process answers',
        tags: ['operations'],
        security: SECURITY.none,
        response: { 200: json('Alive', Type.Object({ status: Type.Literal('ok') }), { ok: { status: 'ok' } }), ...errorResponses([]) },
      },
    },
    async () => ({ status: 'ok' }),
  );

  // Ready means "can accept": Redis is the intake path. PostgreSQL down only delays
  // storage (the buffer holds the messages), so it degrades readiness, not fails it.
  app.get(
    '/health/ready',
    {
      ...ANSWERED_AS_BUILT,
      schema: {
        operationId: 'ready',
        summary: 'Readiness: can accept messages',
        description:
          'Redis down is 503 unavailable; PostgreSQL down only degrades (the buffer holds messages). Checks name no host or driver.',
        tags: ['operations'],
        security: SECURITY.none,
        response: {
          200: json('ok or degraded', ReadyResponse, {
            ok: READY,
            degraded: { ...READY, status: 'degraded', checks: { ...READY.checks, postgres: 'error: unreachable' } },
          }),
          503: json('unavailable: Redis does not answer', ReadyResponse, {
            unavailable: { ...READY, status: 'unavailable', checks: { ...READY.checks, redis: 'error: no answer within 1000 ms' } },
          }),
          ...errorResponses([]),
        },
      },
    },
    async (request, reply) => {
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
    },
  );

  app.get(
    '/metrics',
    {
      ...ANSWERED_AS_BUILT,
      schema: {
        operationId: 'metrics',
        summary: 'Prometheus metrics of this process',
        tags: ['operations'],
        security: SECURITY.none,
        produces: ['text/plain'],
        response: {
          200: {
            description: 'The Prometheus text exposition format',
            content: { 'text/plain': { schema: Type.String(), examples: named({ metrics: 'esh3ar_api_buffer_depth 42\n' }) } },
          },
          ...errorResponses([]),
        },
      },
    },
    async (_request, reply) => {
      deps.metrics.bufferDepth.set(deps.enqueuer.depth);
      deps.metrics.bufferCapacity.set(deps.runtime().buffer.capacity);
      return reply.type(deps.registry.contentType).send(await deps.registry.metrics());
    },
  );
}
