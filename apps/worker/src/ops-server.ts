import { readiness, type ReadinessCheck } from '@esh3ar/observability';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

/** /metrics and /health/* of a worker, on OPS_PORT. Ready: every check answers (PostgreSQL and Redis). */
export function buildOpsServer(
  registry: Registry,
  checks: Record<string, ReadinessCheck>,
  details: () => Promise<Record<string, unknown>>,
): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/health/live', async () => ({ status: 'ok' }));
  app.get('/health/ready', async (_request, reply) => {
    const { statusCode, body } = await readiness(checks, { details });
    return reply.code(statusCode).send(body);
  });
  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  return app;
}
