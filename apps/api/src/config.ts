import { deepFreeze, runtimeConfigFromEnv, parseCommonConfig, readInt, readPort, readSwitch, type Env } from '@esh3ar/config';

export function parseConfig(env: Env) {
  const common = parseCommonConfig(env);
  return deepFreeze({
    ...common,
    http: {
      host: common.host,
      port: readPort(env, 'API_PORT', 3000),
      // 10,000 simultaneous connections: Node's default backlog of 511 drops SYNs and
      // clients retry after a second. The kernel also caps it (net.core.somaxconn).
      backlog: readInt(env, 'API_LISTEN_BACKLOG', 16_384, 1, 1_000_000),
      // SO_REUSEPORT: several api processes on one host listen on the same port and the
      // kernel spreads new connections over them (one process per core, no cluster
      // master in between). Every process on the port must set it.
      reusePort: readSwitch(env, 'API_REUSE_PORT', false),
    },
    postgresPool: { max: readInt(env, 'API_PG_POOL_MAX', 10, 1, 1000) },
    // Both on in every deployment; `off` exists so that bench/limiter-overhead.ts can
    // measure what they cost in the same run.
    admission: {
      rateLimit: readSwitch(env, 'API_RATE_LIMIT', true),
      backpressure: readSwitch(env, 'API_BACKPRESSURE', true),
    },
    // Shedding by @fastify/under-pressure, sampled every second; 0 = that check is off.
    // A mean event-loop delay of 1 s means every request already waits a second before
    // its handler runs: refusing at once is kinder than queueing more.
    pressure: {
      maxEventLoopDelayMs: readInt(env, 'API_MAX_EVENT_LOOP_DELAY_MS', 1000, 0, 600_000),
      maxHeapUsedBytes: readInt(env, 'API_MAX_HEAP_BYTES', 0, 0, Number.MAX_SAFE_INTEGER),
      maxRssBytes: readInt(env, 'API_MAX_RSS_BYTES', 0, 0, Number.MAX_SAFE_INTEGER),
    },
    runtime: runtimeConfigFromEnv(env),
  });
}
export type ApiConfig = ReturnType<typeof parseConfig>;
