/**
 * @esh3ar/stack — runs Esh3ar for tests, benchmarks and the local stack: each app as
 * a real child process (ready when it logs so, on the port it got), a throwaway
 * migrated database, and a REDIS_PREFIX of its own that can be wiped afterwards.
 */
export { createDatabase, type ThrowawayDatabase } from '@esh3ar/db';
export { deletePrefix, uniquePrefix } from './redis-prefix.ts';
export { NODE_FLAGS, REPO_ROOT, runCli, startApp, type AppName, type AppProcess, type CliResult, type StartOptions } from './processes.ts';
export { send, startStack, waitFor, type Stack, type StackOptions } from './stack.ts';
export { startPrivatePostgres, type PrivatePostgres } from './private-postgres.ts';
export { checkStored, startLoad, type Load, type LoadResult, type StoredCheck } from './load.ts';
export { startPrivateRedis, type PrivateRedis, type PrivateRedisOptions } from './private-redis.ts';
export { TestDevice, type ReceivedFrame } from './device.ts';
export { freePort } from './free-port.ts';
// Time-ordered ids as the api makes them (UUIDv7), so that stored rows sort by acceptance.
export { v7 as uuidv7 } from 'uuid';
export {
  startPrivateRedisCluster,
  type ClusterMember,
  type PrivateRedisCluster,
  type PrivateRedisClusterOptions,
} from './private-redis-cluster.ts';
