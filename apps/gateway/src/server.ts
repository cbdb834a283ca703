import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import websocket from '@fastify/websocket';
import type { GatewayMetrics } from '@esh3ar/observability';
import { refreshPresence, removePresence, type PresenceEntry } from '@esh3ar/queue';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { DeviceTokenError, tokenFromRequest } from './device-token.ts';
import { errorFrame, type Connection, type DeviceHub } from './device-hub.ts';
import { parseFrame } from './frames.ts';

export interface GatewayDeps {
  logger: FastifyBaseLogger;
  pool: pg.Pool;
  redis: Redis;
  prefix: string;
  gatewayId: string;
  hub: DeviceHub;
  metrics: GatewayMetrics;
  registry: Registry;
  phoneOf: (token: string) => string;
  maxFrameBytes: number;
  presenceTtlMs: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    phone?: string;
  }
}

export const presenceOf = (gatewayId: string, c: Connection): PresenceEntry => ({ phone: c.phone, gatewayId, connectionId: c.id });

export async function buildGateway(deps: GatewayDeps): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.logger, logController: new LogController({ disableRequestLogging: true }) });
  await app.register(websocket, { options: { maxPayload: deps.maxFrameBytes } });

  app.get('/health/live', async () => ({ status: 'ok', gatewayId: deps.gatewayId }));
  app.get('/health/ready', async (_request, reply) => {
    const [redis, postgres] = await Promise.all([
      deps.redis.ping().then(() => 'ok', (e: Error) => `error: ${e.message}`),
      deps.pool.query('SELECT 1').then(() => 'ok', (e: Error) => `error: ${e.message}`),
    ]);
    const ok = redis === 'ok' && postgres === 'ok';
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks: { redis, postgres, connections: deps.hub.connectionCount } });
  });
  app.get('/metrics', async (_request, reply) => reply.type(deps.registry.contentType).send(await deps.registry.metrics()));

  app.get(
    '/v1/stream',
    {
      websocket: true,
      // Checked before the upgrade: a bad token gets an HTTP 401 and no socket opens.
      onRequest: async (request, reply) => {
        const token = tokenFromRequest(request.headers, request.query);
        try {
          if (token === null) throw new DeviceTokenError('missing device token: Authorization: Bearer <token> or ?access_token=');
          request.phone = deps.phoneOf(token);
        } catch (error) {
          deps.metrics.rejectedUpgrades.inc();
          return reply.code(401).send({ error: { code: 'UNAUTHENTICATED', message: (error as Error).message, details: [] } });
        }
      },
    },
    (socket, request) => {
      // Nothing of the request is kept past this function: a closure holding it would
      // keep Fastify's request and reply objects alive for the whole connection.
      const phone = request.phone!;
      const log = deps.logger;
      const connection = deps.hub.attach(phone, socket);
      const entry = presenceOf(deps.gatewayId, connection);
      socket.on('pong', () => {
        connection.alive = true;
      });
      socket.on('message', (data, isBinary) => {
        const frame = parseFrame(data, isBinary);
        if (frame.kind === 'error') {
          deps.metrics.frameErrors.inc({ code: frame.code });
          socket.send(errorFrame(frame.code, frame.message));
          return;
        }
        const unknown = deps.hub.ack(connection, frame.ids);
        if (unknown.length > 0) {
          deps.metrics.frameErrors.inc({ code: 'UNKNOWN_MESSAGE' });
          socket.send(errorFrame('UNKNOWN_MESSAGE', `not awaiting an ack from this device: ${unknown.slice(0, 10).join(', ')}`));
        }
      });
      socket.on('close', () => {
        deps.hub.detach(connection);
        removePresence(deps.redis, deps.prefix, [entry]).catch((error: Error) => log.warn({ err: error }, 'presence not removed; it expires'));
      });
      socket.on('error', (error) => log.debug({ err: error }, 'device socket error'));
      // Presence first, then the replay: a message stored meanwhile is either routed
      // here live or found by the replay; the hub drops the duplicate.
      refreshPresence(deps.redis, deps.prefix, [entry], deps.presenceTtlMs)
        .then(() => deps.hub.replay(connection))
        .catch((error: Error) => {
          log.warn({ err: error, connectionId: connection.id }, 'replay failed; closing so the device reconnects');
          socket.close(1011, 'replay failed, reconnect');
        });
    },
  );
  return app;
}

export const newGatewayId = () => randomUUID();
