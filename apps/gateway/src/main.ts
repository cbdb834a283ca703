import type { DeliveryItem } from '@esh3ar/contracts';
import { createPool } from '@esh3ar/db';
import { createGatewayMetrics, createLogger, createRegistry, createStatementObserver } from '@esh3ar/observability';
import { watchRuntimeConfig } from '@esh3ar/runtime';
import { beatGateway, createRedis, gatewayChannel, pruneOwnPresence, removePresence, retireGateway } from '@esh3ar/queue';
import closeWithGrace from 'close-with-grace';
import { parseConfig } from './config.ts';
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
});
pool.on('error', (error) => logger.warn({ err: error }, 'idle PostgreSQL connection failed'));
const redis = createRedis(config.redis.url, { name: 'esh3ar-gateway', failFast: false });
const subscriber = createRedis(config.redis.url, { name: 'esh3ar-gateway-deliveries', failFast: false });
for (const client of [redis, subscriber]) client.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
await Promise.all([redis.connect(), subscriber.connect()]);

const runtime = await watchRuntimeConfig('gateway', registry, { pool, redisUrl: config.redis.url, prefix: config.redis.prefix, base: config.runtime, logger });

const status = new StatusWriter(pool, logger, gatewayId, config.ackFlushMs);
const hub = new DeviceHub({ pool, status, metrics, logger, ackTimeoutMs: () => runtime.current().gateway.ackTimeoutMs, replayPageSize: config.replay.pageSize });

// Deliveries addressed to this instance only (the workers look up where each phone is connected).
const channel = gatewayChannel(config.redis.prefix, gatewayId);
subscriber.on('message', (_channel: string, payload: string) => {
  let items: unknown;
  try {
    items = JSON.parse(payload);
  } catch (error) {
    logger.error({ err: error }, 'unreadable delivery payload');
    return;
  }
  if (!Array.isArray(items)) return;
  const absent = hub.deliver(items as DeliveryItem[]);
  pruneOwnPresence(redis, config.redis.prefix, gatewayId, absent).catch((error: Error) => logger.warn({ err: error }, 'stale presence not pruned; the next delivery retries'));
});
await subscriber.subscribe(channel);

const app = await buildGateway({
  logger,
  pool,
  redis,
  prefix: config.redis.prefix,
  gatewayId,
  hub,
  metrics,
  registry,
  phoneOf: deviceTokenVerifier(config.deviceTokens.secret),
  maxFrameBytes: config.websocket.maxFrameBytes,
});
// Alive before the first device registers: readers drop entries of gateways that are not.
await beatGateway(redis, config.redis.prefix, gatewayId, config.presence.ttlMs);
const heartbeat = new Heartbeat(hub, redis, config.redis.prefix, gatewayId, logger, config.websocket.pingIntervalMs, config.presence.ttlMs);
const retryTimer = setInterval(() => {
  hub.retryUnacknowledged().catch((error: Error) => logger.warn({ err: error }, 're-push check failed; next tick retries'));
  // A fixed tick: a smaller ackTimeoutMs set at runtime takes effect at this precision.
}, 250);
retryTimer.unref();

closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) logger.error({ err }, 'stopping after an unexpected error');
  logger.info({ signal, connections: hub.connectionCount }, 'stopping: closing device connections so they reconnect elsewhere');
  clearInterval(retryTimer);
  await heartbeat.close();
  const connections = hub.connections();
  await removePresence(redis, config.redis.prefix, connections.map((c) => presenceOf(gatewayId, c)))
    .then(() => retireGateway(redis, config.redis.prefix, gatewayId))
    .catch((error: Error) => logger.warn({ err: error }, 'presence not removed; it stops counting once this gateway stops beating'));
  for (const c of connections) c.socket.close(1001, 'gateway shutting down, reconnect');
  await app.close();
  await status.close(); // the acks received so far are written before exit
  await runtime.close();
  await Promise.allSettled([subscriber.quit(), redis.quit(), pool.end()]);
  logger.info('stopped');
});

await app.listen({ host: config.http.host, port: config.http.port, backlog: config.http.backlog });
const address = app.server.address();
logger.info({ port: typeof address === 'object' && address ? address.port : config.http.port }, 'gateway listening');
