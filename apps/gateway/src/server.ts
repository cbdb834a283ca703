import { randomUUID } from 'node:crypto';
import type { GatewayMetrics } from '@esh3ar/observability';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { GatewayConfig } from './config.ts';
import type { DeviceHub } from './device-hub.ts';
import { authenticate, countRefused, deviceStream } from './device-stream.ts';
import type { DeviceIdentity } from './device-token.ts';
import type { StatusWriter } from './status-writer.ts';

/** The devices' WebSocket endpoint (the README's Gateway protocol). */
const STREAM_PATH = '/v1/stream';
/**
 * Each readiness check answers within this, so that the probe (timeoutSeconds: 2,
 * infra/k8s/gateway.yaml) gets a 503 rather than no answer: a PostgreSQL that does not
 * answer holds a connection attempt for 5 s, and a Redis command waits for its
 * connection for as long as it is down.
 */
const CHECK_MS = 1000;

/** 'ok', or why not. */
async function check(run: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_MS} ms`)), CHECK_MS);
  });
  try {
    await Promise.race([run(), late]);
    return 'ok';
  } catch (error) {
    // Words that name no host, port or driver: the device port answers anyone who asks.
    return (error as Error).message.startsWith('no answer') ? `error: no answer within ${CHECK_MS} ms` : 'error: unreachable';
  } finally {
    clearTimeout(timer);
  }
}

async function redisCheck(redis: Redis): Promise<void> {
  if (redis.status !== 'ready') throw new Error(`connection ${redis.status}`);
  await redis.ping();
}

export interface GatewayDeps {
  logger: FastifyBaseLogger;
  pool: pg.Pool;
  redis: Redis;
  /** The deliveries' subscriber connection (deliveries.ts). */
  subscriber: Redis;
  status: StatusWriter;
  prefix: string;
  gatewayId: string;
  hub: DeviceHub;
  metrics: GatewayMetrics;
  registry: Registry;
  /** Whom a device token speaks for (device-token.ts); rejects with a DeviceTokenError. */
  identify: (token: string) => Promise<DeviceIdentity>;
  websocket: GatewayConfig['websocket'];
  connections: GatewayConfig['connections'];
}

export async function buildGateway(deps: GatewayDeps): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.logger, logController: new LogController({ disableRequestLogging: true }) });

  app.get('/health/live', async () => ({ status: 'ok', gatewayId: deps.gatewayId }));
  // Ready: presence (Redis), live deliveries (the subscriber), replays and statuses
  // (PostgreSQL) all work, and the status writes are below their cap (at it, device
  // sockets are not read: new devices are better served elsewhere).
  app.get('/health/ready', async (_request, reply) => {
    const [redis, deliveries, postgres] = await Promise.all([
      check(() => redisCheck(deps.redis)),
      check(() => redisCheck(deps.subscriber)),
      check(() => deps.pool.query('SELECT 1')),
    ]);
    const statusWrites = { pending: deps.status.pending, state: deps.status.full ? 'full' : deps.status.failing ? 'failing' : 'ok' };
    const ok = redis === 'ok' && deliveries === 'ok' && postgres === 'ok' && !deps.status.full;
    return reply.code(ok ? 200 : 503).send({
      status: ok ? 'ok' : 'unavailable',
      checks: { redis, deliveries, postgres, statusWrites, connections: deps.hub.connectionCount },
    });
  });
  app.get('/metrics', async (_request, reply) => reply.type(deps.registry.contentType).send(await deps.registry.metrics()));

  // Device connections are upgraded by ws straight from the HTTP server's 'upgrade'
  // event: routed through Fastify (@fastify/websocket), each kept its request, reply,
  // child logger and ServerResponse alive for the connection's life, 3.2 KiB of the
  // 7.5 KiB of heap a connection held (bench/gateway-memory.ts).
  const onUpgrade = deviceStream(STREAM_PATH, deps);
  app.server.on('upgrade', onUpgrade);
  // The stream without an Upgrade header: 401 (or 503) for a refused token, as on the upgrade, else 404.
  app.get(STREAM_PATH, async (request, reply) => {
    const auth = await authenticate(deps.identify, request.headers, request.query);
    if ('refused' in auth) {
      countRefused(deps.metrics, auth.reason);
      const { status, body, retryAfterSeconds } = auth.refused;
      if (retryAfterSeconds !== undefined) reply.header('retry-after', retryAfterSeconds);
      return reply.code(status).type('application/json; charset=utf-8').send(body);
    }
    return reply.code(404).send();
  });
  app.addHook('preClose', async () => {
    app.server.removeListener('upgrade', onUpgrade);
    // Connections opened since the shutdown began reconnect elsewhere too.
    deps.hub.closeConnections(1001, 'gateway shutting down, reconnect');
  });
  return app;
}

export const newGatewayId = () => randomUUID();
