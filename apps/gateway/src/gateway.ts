import { createGatewayMetrics } from '@esh3ar/observability';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { GatewayConfig } from './config.ts';
import { subscribeDeliveries } from './deliveries.ts';
import { DeviceHub } from './device-hub.ts';
import { deviceTokenVerifier } from './device-token.ts';
import { buildGateway } from './server.ts';
import { StatusWriter } from './status-writer.ts';
import type { RedisClient } from '@esh3ar/queue';

export interface StartGatewayDeps {
  config: Pick<
    GatewayConfig,
    'redis' | 'ackFlushMs' | 'statusWrites' | 'replay' | 'slowReaders' | 'deviceTokens' | 'websocket' | 'connections'
  >;
  gatewayId: string;
  logger: Logger;
  registry: Registry;
  pool: pg.Pool;
  redis: RedisClient;
  /** A connection of its own for the deliveries' channel (deliveries.ts). */
  subscriber: RedisClient;
  /** Read at every re-push tick: the runtime configuration's, in production. */
  ackTimeoutMs: () => number;
}

export interface Gateway {
  app: FastifyInstance;
  hub: DeviceHub;
  status: StatusWriter;
  /**
   * Stops the hub's timers, closes every device connection (1001) and the server, then
   * writes the acks taken so far. The pool and Redis clients are the caller's to close.
   */
  close(): Promise<void>;
}

/**
 * The gateway's parts, wired together: the status writer, the hub, the deliveries'
 * subscription and the HTTP server (not listening yet). main.ts adds the presence
 * beat and the ping sweep; the tests' in-process gateway (gateway.test-kit.ts) runs
 * the same wiring.
 */
export async function startGateway(deps: StartGatewayDeps): Promise<Gateway> {
  const { config, gatewayId, logger, pool, redis, subscriber, registry } = deps;
  const metrics = createGatewayMetrics(registry);
  const status = new StatusWriter(pool, logger, metrics, gatewayId, {
    flushMs: config.ackFlushMs,
    maxPending: config.statusWrites.maxPending,
  });
  const hub = new DeviceHub({
    pool,
    status,
    metrics,
    logger,
    ackTimeoutMs: deps.ackTimeoutMs,
    replayPageSize: config.replay.pageSize,
    replaysAtOnce: config.replay.atOnce,
    slowReaders: config.slowReaders,
  });
  subscribeDeliveries({ subscriber, redis, prefix: config.redis.prefix, gatewayId, hub, logger });
  const app = await buildGateway({
    logger,
    pool,
    redis,
    subscriber,
    status,
    prefix: config.redis.prefix,
    gatewayId,
    hub,
    metrics,
    registry,
    identify: deviceTokenVerifier(config.deviceTokens),
    websocket: config.websocket,
    connections: config.connections,
  });
  return {
    app,
    hub,
    status,
    async close() {
      hub.close();
      hub.closeConnections(1001, 'gateway shutting down, reconnect');
      await app.close();
      await status.close(); // the acks received so far are written before exit
    },
  };
}
