import { deepFreeze, parseCommonConfig, type Env } from '@esh3ar/config';

export function parseConfig(env: Env) {
  return deepFreeze(parseCommonConfig(env));
}
export type CliConfig = ReturnType<typeof parseConfig>;
