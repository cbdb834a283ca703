import { Cluster, Redis } from 'ioredis';

/**
 * What every Esh3ar process holds: one Redis, or a Redis Cluster (REDIS_CLUSTER_NODES).
 * Both take the same commands, pipelines (on a Cluster, a pipeline's keys must live on
 * one node: pipelines.ts), scripts and pub/sub.
 */
export type RedisClient = Redis | Cluster;

/** Where to connect (@esh3ar/config's RedisConfig): REDIS_URL, or the Cluster's seed nodes when there are some. */
export interface RedisTarget {
  url: string;
  clusterNodes: readonly { host: string; port: number }[] | null;
}

export interface RedisOptions {
  /** Name shown by CLIENT LIST. */
  name: string;
  /**
   * Request path: fail a command at once while Redis is unreachable (the api answers
   * 503) instead of queueing it in memory until Redis returns.
   */
  failFast: boolean;
  /**
   * A connection that takes SSUBSCRIBE (a gateway's deliveries): on a Cluster, one
   * subscriber connection per master, each for the channels of its slots. Nothing on one Redis.
   */
  sharded?: boolean;
}

const retryStrategy = (times: number) => Math.min(50 * 2 ** times, 2000);

function connectionOptions(options: RedisOptions) {
  return {
    connectionName: options.name,
    ...(options.failFast
      ? { maxRetriesPerRequest: 1, commandTimeout: 2000 }
      : // BullMQ workers block on Redis and must retry forever.
        { maxRetriesPerRequest: null }),
  };
}

export function isCluster(redis: RedisClient): redis is Cluster {
  return redis instanceof Cluster;
}

/**
 * A client for `target`, not connected yet (lazyConnect): a Cluster when it names seed
 * nodes, which ioredis asks for the others and for who holds which slot. Reads go to the
 * masters too (`scaleReads: 'master'`): a replica may be behind, and the api reads what it
 * has just written. A string is a URL (tests and tools that only know one Redis).
 */
export function createRedis(target: string, options: RedisOptions): Redis;
export function createRedis(target: RedisTarget, options: RedisOptions): RedisClient;
export function createRedis(target: string | RedisTarget, options: RedisOptions): RedisClient {
  const { url, clusterNodes } = typeof target === 'string' ? { url: target, clusterNodes: null } : target;
  if (clusterNodes === null) {
    return new Redis(url, {
      ...connectionOptions(options),
      lazyConnect: true,
      ...(options.failFast ? { enableOfflineQueue: false } : {}),
      retryStrategy,
    });
  }
  return new Cluster(
    clusterNodes.map(({ host, port }) => ({ host, port })),
    {
      lazyConnect: true,
      enableReadyCheck: true,
      scaleReads: 'master',
      enableOfflineQueue: !options.failFast,
      clusterRetryStrategy: retryStrategy,
      shardedSubscribers: options.sharded === true,
      redisOptions: connectionOptions(options),
    },
  );
}

/**
 * A connection of its own for SUBSCRIBE, like `redis` but for a whole process's life:
 * it queues the SUBSCRIBE until Redis answers and subscribes again after a reconnection.
 */
export function subscriberFor(redis: RedisClient, name: string): RedisClient {
  const lifelong = { connectionName: name, maxRetriesPerRequest: null, commandTimeout: undefined };
  if (isCluster(redis)) {
    return redis.duplicate([], { lazyConnect: true, enableOfflineQueue: true, enableAutoPipelining: false, redisOptions: lifelong });
  }
  return redis.duplicate({ ...lifelong, lazyConnect: true, enableOfflineQueue: true, enableAutoPipelining: false });
}

/** Where `target` points, for messages: REDIS_URL's host (never its password), or the Cluster's seed nodes. */
export function redisAddress(target: RedisTarget): string {
  return target.clusterNodes === null ? new URL(target.url).host : target.clusterNodes.map(({ host, port }) => `${host}:${port}`).join(',');
}
