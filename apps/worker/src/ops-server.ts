import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export type Check = () => Promise<unknown>;

async function probe(check: Check): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), 1000);
      }),
    ]);
    return 'ok';
  } catch (error) {
    return `error: ${(error as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

/** /metrics and /health/* of a worker, on OPS_PORT. Ready: both stores answer. */
export function buildOpsServer(registry: Registry, checks: Record<string, Check>, extra: () => Promise<Record<string, unknown>>): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/health/live', async () => ({ status: 'ok' }));
  app.get('/health/ready', async (_request, reply) => {
    const names = Object.keys(checks);
    const results = await Promise.all(names.map((name) => probe(checks[name]!)));
    const ok = results.every((r) => r === 'ok');
    const body = { status: ok ? 'ok' : 'unavailable', checks: { ...Object.fromEntries(names.map((n, i) => [n, results[i]])), ...(await extra()) } };
    return reply.code(ok ? 200 : 503).send(body);
  });
  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  return app;
}
