import { Redis } from 'ioredis';

export interface RedisOptions {
  /** Name shown by CLIENT LIST. */
  name: string;
  /**
   * Request path: fail a command at once while Redis is unreachable (the api answers
   * 503) instead of queueing it in memory until Redis returns.
   */
  failFast: boolean;
}

export function createRedis(url: string, options: RedisOptions): Redis {
  return new Redis(url, {
    connectionName: options.name,
    lazyConnect: true,
    ...(options.failFast
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 2000 }
      : // BullMQ workers block on Redis and must retry forever.
        { maxRetriesPerRequest: null }),
    retryStrategy: (times) => Math.min(50 * 2 ** times, 2000),
  });
}
