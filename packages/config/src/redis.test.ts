import { describe, expect, it } from 'vitest';
import { ConfigError } from './env.ts';
import { parseRedisConfig } from './redis.ts';

describe('parseRedisConfig', () => {
  it('is one Redis at REDIS_URL unless REDIS_CLUSTER_NODES names seed nodes', () => {
    expect(parseRedisConfig({})).toEqual({ url: 'redis://127.0.0.1:6379', clusterNodes: null, prefix: 'esh3ar' });
    expect(parseRedisConfig({ REDIS_CLUSTER_NODES: ' redis-0:7000, 10.0.0.2:7001 ,[::1]:7002,redis-3,' }).clusterNodes).toEqual([
      { host: 'redis-0', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
      { host: '::1', port: 7002 },
      { host: 'redis-3', port: 6379 },
    ]);
  });

  it.each(['redis://redis-0:7000', 'redis-0:70000', 'redis-0:', ' , ', 'a b:1'])('stops on REDIS_CLUSTER_NODES=%j, naming it', (nodes) => {
    expect(() => parseRedisConfig({ REDIS_CLUSTER_NODES: nodes })).toThrow(ConfigError);
    expect(() => parseRedisConfig({ REDIS_CLUSTER_NODES: nodes })).toThrow(/REDIS_CLUSTER_NODES/);
  });
});
