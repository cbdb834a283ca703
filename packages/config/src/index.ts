/**
 * @esh3ar/config — configuration read once at start-up: typed readers for
 * environment variables (a bad value stops the process with a message naming the
 * variable), the settings every process shares, and the runtime-configuration
 * document with its built-in defaults (version 0).
 */
export {
  ConfigError,
  deepFreeze,
  readInt,
  readOptionalString,
  readPort,
  readRequiredString,
  readString,
  readSwitch,
  readUrl,
  type Env,
  type LogLevel,
} from './env.ts';
export { parseCommonConfig, type CommonConfig } from './common.ts';
export { DEFAULT_RUNTIME_CONFIG, RuntimeConfig, TIERS, type Tier } from './runtime.ts';
export { runtimeConfigFromEnv } from './runtime-env.ts';
export { checkRuntimeConfig, type RuntimeConfigCheck, type RuntimeConfigProblem } from './runtime-check.ts';
