import { createPool } from '@esh3ar/db';
import { closeInOrder, createLogger, createRegistry, createStatementObserver } from '@esh3ar/observability';
import { watchRuntimeConfig } from '@esh3ar/runtime';
import { createRedis } from '@esh3ar/queue';
import { beatGateway, removePresence, retireGateway } from '@esh3ar/queue/presence';
import closeWithGrace from 'close-with-grace';
import { parseConfig, SHUTDOWN_GRACE_MS } from './config.ts';
import { presenceOf } from './device-stream.ts';
import { startGateway } from './gateway.ts';
import { PingSweep } from './ping-sweep.ts';
import { PresenceBeat } from './presence-beat.ts';
import { newGatewayId } from './server.ts';

const config = parseConfig(process.env);
const gatewayId = newGatewayId();
const logger = createLogger('gateway', config.log.level).child({ gatewayId });
const registry = createRegistry('gateway');

const pool = createPool(config.postgres.url, {
  max: config.postgresPool.max,
  applicationName: 'esh3ar-gateway',
  statementTimeoutMs: 10_000,
  onStatement: createStatementObserver(registry, logger, { slowMs: config.postgres.slowStatementMs }),
  onConnectionError: (error, state) => logger.warn({ err: error, state }, 'PostgreSQL connection lost'),
});
const redis = createRedis(config.redis, { name: 'esh3ar-gateway', failFast: false });
const subscriber = createRedis(config.redis, { name: 'esh3ar-gateway-deliveries', failFast: false, sharded: true });
for (const client of [redis, subscriber]) client.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
// Nothing here waits for Redis or PostgreSQL: a gateway started while either is down
// listens, answers 503 on /health/ready, and catches up once they answer (the Redis
// clients retry every ≤ 2 s and keep their commands; the pool connects per query).
redis.connect().catch((error: Error) => logger.debug({ err: error }, 'redis not connected yet; retrying'));

// A PostgreSQL that is down leaves the environment's runtime configuration in force.
const runtime = await watchRuntimeConfig('gateway', registry, {
  pool,
  redis: config.redis,
  prefix: config.redis.prefix,
  base: config.runtime,
  logger,
});

const gateway = await startGateway({
  config,
  gatewayId,
  logger,
  registry,
  pool,
  redis,
  subscriber,
  ackTimeoutMs: () => runtime.current().gateway.ackTimeoutMs,
});
const { app, hub } = gateway;
// Alive before the first device registers: readers drop entries of gateways that are
// not. Sent before listening, on the connection that registers devices, so it goes first
// even while Redis is down (its commands wait for it, in order); a beat that fails is
// made good by the presence beat's next, which finds the gateway lapsed and re-adds all.
beatGateway(redis, config.redis.prefix, gatewayId, config.presence.ttlMs).catch((error: Error) =>
  logger.warn({ err: error }, 'first beat failed; the heartbeat beats again'),
);
const presence = new PresenceBeat({ hub, redis, prefix: config.redis.prefix, gatewayId, logger, ttlMs: config.presence.ttlMs });
const pings = new PingSweep({ hub, logger, intervalMs: config.websocket.pingIntervalMs });

closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
  if (err) logger.error({ err }, 'stopping after an unexpected error');
  logger.info({ signal, connections: hub.connectionCount }, 'stopping: closing device connections so they reconnect elsewhere');
  await closeInOrder(logger, [
    ['device hub', () => hub.close()],
    ['ping sweep', () => pings.close()],
    ['presence beat', () => presence.close()],
    [
      'presence',
      () =>
        removePresence(
          redis,
          config.redis.prefix,
          hub.connections().map((c) => presenceOf(gatewayId, c)),
        )
          .then(() => retireGateway(redis, config.redis.prefix, gatewayId))
          // Redis unreachable at shutdown is expected in an outage, not a failed shutdown.
          .catch((error: Error) => logger.warn({ err: error }, 'presence not removed; it stops counting once this gateway stops beating')),
    ],
    // The acks received so far are written before it returns.
    ['gateway', () => gateway.close()],
    ['runtime config', () => runtime.close()],
    ['redis and postgres', () => Promise.allSettled([subscriber.quit(), redis.quit(), pool.end()])],
  ]);
  logger.info('stopped');
});

await app.listen({ host: config.http.host, port: config.http.port, backlog: config.http.backlog });
const address = app.server.address();
logger.info({ port: typeof address === 'object' && address ? address.port : config.http.port }, 'gateway listening');
