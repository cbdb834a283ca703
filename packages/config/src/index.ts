/**
 * @esh3ar/config — configuration read once at start-up: typed readers for
 * environment variables (a bad value stops the process with a message naming the
 * variable) and the settings every process shares. What operators retune while
 * Esh3ar runs is @esh3ar/runtime's.
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
export { readWaitReplicas, waitReplicasOf, type ClusterNode, type RedisConfig } from './redis.ts';
