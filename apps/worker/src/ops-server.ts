import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export type Check = () => Promise<unknown>;

// A probe answers within a second: a Redis command waits in ioredis's offline queue
// for as long as Redis is down, and a readiness check that hangs tells a kubelet nothing.
const PROBE_TIMEOUT_MS = 1000;

/** `promise`, or a rejection once `ms` have passed. */
export async function within<T>(promise: Promise<T>, ms = PROBE_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** 'ok', or an error in words that name no host, port or driver (the connections' own listeners log the cause). */
async function probe(check: Check): Promise<string> {
  try {
    await within(check());
    return 'ok';
  } catch (error) {
    return (error as Error).message === 'timed out' ? `error: no answer within ${PROBE_TIMEOUT_MS} ms` : 'error: unreachable';
  }
}

/** /metrics and /health/* of a worker, on OPS_PORT. Ready: both stores answer. */
export function buildOpsServer(
  registry: Registry,
  checks: Record<string, Check>,
  extra: () => Promise<Record<string, unknown>>,
): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/health/live', async () => ({ status: 'ok' }));
  app.get('/health/ready', async (_request, reply) => {
    const names = Object.keys(checks);
    const results = await Promise.all(names.map((name) => probe(checks[name]!)));
    const ok = results.every((r) => r === 'ok');
    const body = {
      status: ok ? 'ok' : 'unavailable',
      checks: { ...Object.fromEntries(names.map((n, i) => [n, results[i]])), ...(await extra()) },
    };
    return reply.code(ok ? 200 : 503).send(body);
  });
  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  return app;
}
