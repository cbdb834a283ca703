import { deepFreeze, parseCommonConfig, readInt, readPort, readRequiredString, runtimeConfigFromEnv, type Env } from '@esh3ar/config';

export function parseConfig(env: Env) {
  const common = parseCommonConfig(env);
  const secret = readRequiredString(env, 'DEVICE_TOKEN_SECRET');
  return deepFreeze({
    ...common,
    http: { host: common.host, port: readPort(env, 'GATEWAY_PORT', 3001), backlog: readInt(env, 'GATEWAY_LISTEN_BACKLOG', 16_384, 1, 1_000_000) },
    deviceTokens: { secret },
    websocket: {
      // A device frame is an ack (≤ 1000 ids ≈ 40 KiB); anything larger is closed with 1009.
      maxFrameBytes: readInt(env, 'GATEWAY_MAX_FRAME_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
      // A connection that misses one ping interval's pong is dropped.
      pingIntervalMs: readInt(env, 'GATEWAY_PING_INTERVAL_MS', 30_000, 100, 600_000),
    },
    presence: {
      // A SIGKILLed gateway's phones count as online at most this long.
      ttlMs: readInt(env, 'GATEWAY_PRESENCE_TTL_MS', 30_000, 300, 3_600_000),
    },
    replay: {
      pageSize: readInt(env, 'GATEWAY_REPLAY_PAGE_SIZE', 500, 1, 10_000),
      // Half of GATEWAY_PG_POOL_MAX's default 8: a reconnect storm's replays leave the other
      // connections to the status writes, the re-push checks and /health/ready.
      atOnce: readInt(env, 'GATEWAY_REPLAYS_AT_ONCE', 4, 1, 1000),
    },
    ackFlushMs: readInt(env, 'GATEWAY_ACK_FLUSH_MS', 50, 1, 10_000),
    statusWrites: {
      // Acks and sent marks held while PostgreSQL does not take them: ~210 B per ack
      // (id, phone, time) and ~80 B per sent mark measured, so ≤ ~40 MiB at 200,000, and
      // ~4-5 s to write once PostgreSQL is back (~45,000 acks/s in chunks of 5,000). At
      // the cap the gateway stops reading device sockets and pushing (status-writer.ts).
      maxPending: readInt(env, 'GATEWAY_STATUS_PENDING_MAX', 200_000, 100, 10_000_000),
    },
    postgresPool: { max: readInt(env, 'GATEWAY_PG_POOL_MAX', 8, 1, 1000) },
    runtime: (() => {
      const base = runtimeConfigFromEnv(env);
      const ackTimeoutMs = readInt(env, 'GATEWAY_ACK_TIMEOUT_MS', base.gateway.ackTimeoutMs, 100, 3_600_000);
      return { ...base, gateway: { ackTimeoutMs } };
    })(),
  });
}
export type GatewayConfig = ReturnType<typeof parseConfig>;
