import { randomUUID } from 'node:crypto';
import { readiness, type GatewayMetrics } from '@esh3ar/observability';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { GatewayConfig } from './config.ts';
import type { DeviceHub } from './device-hub.ts';
import { deviceStream } from './device-stream.ts';
import { authenticate, countRefused } from './upgrade-refusals.ts';
import type { DeviceIdentity } from './device-token.ts';
import type { StatusWriter } from './status-writer.ts';
import type { RedisClient } from '@esh3ar/queue';

/** The devices' WebSocket endpoint (docs/gateway-protocol.md). */
const STREAM_PATH = '/v1/stream';

async function redisCheck(redis: RedisClient): Promise<void> {
  if (redis.status !== 'ready') throw new Error(`connection ${redis.status}`);
  await redis.ping();
}

export interface GatewayDeps {
  logger: FastifyBaseLogger;
  pool: pg.Pool;
  redis: RedisClient;
  /** The deliveries' subscriber connection (deliveries.ts). */
  subscriber: RedisClient;
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
    const { statusCode, body } = await readiness(
      {
        redis: { run: () => redisCheck(deps.redis) },
        deliveries: { run: () => redisCheck(deps.subscriber) },
        postgres: { run: () => deps.pool.query('SELECT 1') },
      },
      {
        refusing: () => deps.status.full,
        details: () => ({
          statusWrites: { pending: deps.status.pending, state: deps.status.full ? 'full' : deps.status.failing ? 'failing' : 'ok' },
          connections: deps.hub.connectionCount,
        }),
      },
    );
    return reply.code(statusCode).send(body);
  });
  app.get('/metrics', async (_request, reply) => reply.type(deps.registry.contentType).send(await deps.registry.metrics()));

  // Device connections are upgraded by ws straight from the HTTP server's 'upgrade'
  // event: routed through Fastify (@fastify/websocket), each kept its request, reply,
  // child logger and ServerResponse alive for the connection's life, 3.2 KiB of the
  // 7.5 KiB of heap a connection held (bench/gateway/memory.ts).
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
