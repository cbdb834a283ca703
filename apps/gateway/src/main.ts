import { createPool } from '@esh3ar/db';
import { createGatewayMetrics, createLogger, createRegistry, createStatementObserver } from '@esh3ar/observability';
import { watchRuntimeConfig } from '@esh3ar/runtime';
import { beatGateway, createRedis, removePresence, retireGateway } from '@esh3ar/queue';
import closeWithGrace from 'close-with-grace';
import { parseConfig } from './config.ts';
import { subscribeDeliveries } from './deliveries.ts';
import { DeviceHub } from './device-hub.ts';
import { presenceOf } from './device-stream.ts';
import { deviceTokenVerifier } from './device-token.ts';
import { Heartbeat } from './heartbeat.ts';
import { buildGateway, newGatewayId } from './server.ts';
import { StatusWriter } from './status-writer.ts';

const config = parseConfig(process.env);
const gatewayId = newGatewayId();
const logger = createLogger('gateway', config.log.level).child({ gatewayId });
const registry = createRegistry('gateway');
const metrics = createGatewayMetrics(registry);

const pool = createPool(config.postgres.url, {
  max: config.postgresPool.max,
  applicationName: 'esh3ar-gateway',
  statementTimeoutMs: 10_000,
  onStatement: createStatementObserver(registry, logger, { slowMs: config.postgres.slowStatementMs }),
  onConnectionError: (error, state) => logger.warn({ err: error, state }, 'PostgreSQL connection lost'),
});
const redis = createRedis(config.redis.url, { name: 'esh3ar-gateway', failFast: false });
const subscriber = createRedis(config.redis.url, { name: 'esh3ar-gateway-deliveries', failFast: false });
for (const client of [redis, subscriber]) client.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
// Nothing here waits for Redis or PostgreSQL: a gateway started while either is down
// listens, answers 503 on /health/ready, and catches up once they answer (the Redis
// clients retry every ≤ 2 s and keep their commands; the pool connects per query).
redis.connect().catch((error: Error) => logger.debug({ err: error }, 'redis not connected yet; retrying'));

// A PostgreSQL that is down leaves the environment's runtime configuration in force.
const runtime = await watchRuntimeConfig('gateway', registry, { pool, redisUrl: config.redis.url, prefix: config.redis.prefix, base: config.runtime, logger });

const status = new StatusWriter(pool, logger, metrics, gatewayId, { flushMs: config.ackFlushMs, maxPending: config.statusWrites.maxPending });
const hub = new DeviceHub({
  pool,
  status,
  metrics,
  logger,
  ackTimeoutMs: () => runtime.current().gateway.ackTimeoutMs,
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
// Alive before the first device registers: readers drop entries of gateways that are
// not. Sent before listening, on the connection that registers devices, so it goes first
// even while Redis is down (its commands wait for it, in order); a beat that fails is
// made good by the heartbeat's next, which finds the gateway lapsed and re-adds all.
beatGateway(redis, config.redis.prefix, gatewayId, config.presence.ttlMs).catch((error: Error) => logger.warn({ err: error }, 'first beat failed; the heartbeat beats again'));
const heartbeat = new Heartbeat(hub, redis, config.redis.prefix, gatewayId, logger, config.websocket.pingIntervalMs, config.presence.ttlMs);

closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) logger.error({ err }, 'stopping after an unexpected error');
  logger.info({ signal, connections: hub.connectionCount }, 'stopping: closing device connections so they reconnect elsewhere');
  hub.close();
  await heartbeat.close();
  const connections = hub.connections();
  await removePresence(redis, config.redis.prefix, connections.map((c) => presenceOf(gatewayId, c)))
    .then(() => retireGateway(redis, config.redis.prefix, gatewayId))
    .catch((error: Error) => logger.warn({ err: error }, 'presence not removed; it stops counting once this gateway stops beating'));
  hub.closeConnections(1001, 'gateway shutting down, reconnect');
  await app.close();
  await status.close(); // the acks received so far are written before exit
  await runtime.close();
  await Promise.allSettled([subscriber.quit(), redis.quit(), pool.end()]);
  logger.info('stopped');
});

await app.listen({ host: config.http.host, port: config.http.port, backlog: config.http.backlog });
const address = app.server.address();
logger.info({ port: typeof address === 'object' && address ? address.port : config.http.port }, 'gateway listening');
