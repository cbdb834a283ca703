import { deepFreeze, runtimeConfigFromEnv, parseCommonConfig, readInt, readPort, type Env } from '@esh3ar/config';

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
    },
    postgresPool: { max: readInt(env, 'API_PG_POOL_MAX', 10, 1, 1000) },
    runtime: runtimeConfigFromEnv(env),
  });
}
export type ApiConfig = ReturnType<typeof parseConfig>;
