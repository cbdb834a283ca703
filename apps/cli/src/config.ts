import { deepFreeze, parseCommonConfig, readOptionalString, readWaitReplicas, type Env } from '@esh3ar/config';
import { runtimeConfigFromEnv } from '@esh3ar/runtime';

export function parseConfig(env: Env) {
  const common = parseCommonConfig(env);
  return deepFreeze({
    ...common,
    // Replicas a DLQ replay's send jobs must reach before its page commits (WAIT), as the api's.
    redis: { ...common.redis, waitReplicas: readWaitReplicas(env) },
    deviceTokenSecret: readOptionalString(env, 'DEVICE_TOKEN_SECRET'),
    runtime: runtimeConfigFromEnv(env),
  });
}
export type CliConfig = ReturnType<typeof parseConfig>;
