import { deepFreeze, parseCommonConfig, readOptionalString, type Env } from '@esh3ar/config';
import { runtimeConfigFromEnv } from '@esh3ar/runtime';

export function parseConfig(env: Env) {
  return deepFreeze({
    ...parseCommonConfig(env),
    deviceTokenSecret: readOptionalString(env, 'DEVICE_TOKEN_SECRET'),
    runtime: runtimeConfigFromEnv(env),
  });
}
export type CliConfig = ReturnType<typeof parseConfig>;
