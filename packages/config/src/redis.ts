import { ConfigError, readInt, readOptionalString, readString, readUrl, type Env } from './env.ts';

/** One seed node of a Redis Cluster. */
export interface ClusterNode {
  host: string;
  port: number;
}

/** Where every process finds Redis: one server at `url`, or a Cluster through `clusterNodes` (then `url` is not used). */
export interface RedisConfig {
  url: string;
  /** REDIS_CLUSTER_NODES; null: one Redis at REDIS_URL. */
  clusterNodes: readonly ClusterNode[] | null;
  prefix: string;
}

/** `host:port`, `host` (port 6379) or `[ipv6]:port`, as redis-cli and ioredis write a node. */
function parseNode(entry: string): ClusterNode {
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:/\s[\]]+))(?::(\d{1,5}))?$/i.exec(entry);
  const port = match?.[3] === undefined ? 6379 : Number(match[3]);
  if (!match || port < 1 || port > 65535)
    throw new ConfigError(`REDIS_CLUSTER_NODES must be host:port entries separated by commas, got "${entry}"`);
  return { host: match[1] ?? match[2]!, port };
}

function readClusterNodes(env: Env): ClusterNode[] | null {
  const value = readOptionalString(env, 'REDIS_CLUSTER_NODES');
  if (value === null) return null;
  const entries = value
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (entries.length === 0) throw new ConfigError('REDIS_CLUSTER_NODES must name at least one host:port');
  return entries.map(parseNode);
}

export function parseRedisConfig(env: Env): RedisConfig {
  return {
    url: readUrl(env, 'REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    clusterNodes: readClusterNodes(env),
    prefix: readString(env, 'REDIS_PREFIX', 'esh3ar'),
  };
}

/**
 * REDIS_WAIT_REPLICAS for the processes whose writes hold messages (the api's buffer, the
 * worker's send jobs): replicas that must hold such a write before it counts (WAIT); null
 * when unset (waitReplicasOf's default).
 */
export function readWaitReplicas(env: Env): number | null {
  return readOptionalString(env, 'REDIS_WAIT_REPLICAS') === null ? null : readInt(env, 'REDIS_WAIT_REPLICAS', 0, 0, 16);
}

/**
 * REDIS_WAIT_REPLICAS, or when unset: 1 on a Cluster, which is run with a replica per master
 * that a failover promotes and that must then hold what was written; none on one Redis,
 * whose AOF (fsync always) holds it.
 */
export function waitReplicasOf(redis: { waitReplicas: number | null; clusterNodes: readonly unknown[] | null }): number {
  return redis.waitReplicas ?? (redis.clusterNodes === null ? 0 : 1);
}
