import { deepFreeze, parseCommonConfig, readInt, readPort, type Env } from '@esh3ar/config';

export function parseConfig(env: Env) {
  // Only HOST and LOG_LEVEL of the shared settings: the simulator uses neither PostgreSQL
  // nor Redis, so their variables must not stop it.
  const common = parseCommonConfig({ HOST: env.HOST, LOG_LEVEL: env.LOG_LEVEL });
  return deepFreeze({
    log: common.log,
    http: { host: common.host, port: readPort(env, 'PROVIDER_SIM_PORT', 3002) },
    received: {
      maxItems: readInt(env, 'PROVIDER_SIM_MAX_RECEIVED', 100_000, 1, 10_000_000),
      // 50 M characters ≈ 100 MB of strings: room for 100,000 messages of 500 characters.
      maxChars: readInt(env, 'PROVIDER_SIM_MAX_RECEIVED_CHARS', 50_000_000, 1_000, 1_000_000_000),
    },
  });
}
export type ProviderSimConfig = ReturnType<typeof parseConfig>;
