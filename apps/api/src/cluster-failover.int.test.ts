import { createRedis, ingestQueues, redisKeys } from '@esh3ar/queue';
import {
  checkStored,
  send,
  startLoad,
  startPrivateRedisCluster,
  startStack,
  waitFor,
  type PrivateRedisCluster,
  type Stack,
} from '@esh3ar/stack';
import { afterEach, describe, expect, it } from 'vitest';

/*
 * A master of a Redis Cluster dies (SIGKILL) under a stream of POST /v1/messages, its
 * replica is promoted (cluster-node-timeout 2 s), and what was answered 202 before, during
 * and after must all be stored: a 503 meanwhile is no promise, and the load sends it again
 * (same body, same Idempotency-Key) until it is answered 202.
 *
 * Replication is asynchronous, and over loopback a replica has a write within microseconds
 * of the master answering it (a SIGKILL does not even cut what the master had handed its
 * socket): a kill alone would hardly ever catch a write that only the master held. So the
 * replica is first cut off from its master for 1.8 s, as a slow or partitioned replica
 * is, by making its re-connection fail (a wrong masterauth): every write the master takes
 * in that window dies with it. The worker starts after the failover, so that nothing
 * accepted leaves Redis before the master dies.
 */
let cluster: PrivateRedisCluster | undefined;
let stack: Stack | undefined;

afterEach(async () => {
  await stack?.close();
  await cluster?.destroy();
  [stack, cluster] = [undefined, undefined];
});

/**
 * The master holding the first ingest queue, and its replica. The api writes to the 8
 * ingest queues in turn, and this master holds at least 3 of them (packages/queue/src/keys.ts
 * spreads them), so a stream of writes keeps reaching it.
 */
async function ingestMaster(c: PrivateRedisCluster, prefix: string): Promise<{ master: number; replica: number }> {
  const [any] = c.ports;
  const slot = await c.node(any!).cluster('KEYSLOT', `{${prefix}:ingest}:ingest:wait`);
  const ranges = await c.node(any!).cluster('SLOTS');
  const master = ranges.find(([from, to]) => slot >= from && slot <= to)![2]![1];
  const replica = (await c.members()).find((m) => m.masterPort === master)!.port;
  return { master, replica };
}

async function failoverUnderLoad(env: Record<string, string>) {
  cluster = await startPrivateRedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 2000 });
  stack = await startStack('cluster-failover', { env: { REDIS_CLUSTER_NODES: cluster.nodes, WORKER_BATCH_TIMEOUT_MS: '5', ...env } });
  const api = stack.api!;
  await waitFor(
    () => send(api.url, null, 'GET', '/health/ready'),
    (r) => r.status === 200,
  );
  const { apiKey } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 });
  const { master, replica } = await ingestMaster(cluster, stack.prefix);
  const tag = `failover-${Date.now()}`;
  const load = startLoad({ senders: 8, apiUrl: () => api.url, apiKey, tag });
  await load.acceptedMore(200);

  // Answered 100 ms before the cut at the latest: the replica has those writes.
  const beforeCut = load.acceptedCount;
  await new Promise((resolve) => setTimeout(resolve, 100));
  // The replica loses its master and cannot come back: what the master takes now, only it holds.
  await cluster.node(replica).config('SET', 'masterauth', 'not-the-password');
  await cluster.node(replica).call('CLIENT', 'KILL', 'TYPE', 'master');
  // A request whose write a replica acknowledged before the cut is answered within
  // milliseconds, or later on a busy machine (200 ms once let one such 202 into the window
  // below during a full test run); one that waits for the replica now gives up after 1 s
  // (503). So the window opens once every wait begun before the cut has ended.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const atSettled = load.acceptedCount;
  await new Promise((resolve) => setTimeout(resolve, 700));
  const acceptedWhileCut = load.acceptedCount - atSettled;
  await cluster.kill(master);
  await cluster.node(replica).config('SET', 'masterauth', '');
  await cluster.waitUntilOk(30_000);
  expect((await cluster.members()).find((m) => m.port === replica)?.role).toBe('master');

  await load.acceptedMore(200, 60_000);
  const result = await load.stop();
  // What survived in Redis is stored once the queue is empty.
  await stack.startWorker();
  const redis = createRedis({ url: 'redis://unused', clusterNodes: cluster.seeds }, { name: 'esh3ar-test-failover', failFast: false });
  redis.on('error', () => undefined);
  const queues = ingestQueues(redis, redisKeys(stack.prefix, { cluster: true }));
  try {
    await waitFor(
      () => Promise.all(queues.map((queue) => queue.getJobCounts('wait', 'prioritized', 'active', 'delayed'))),
      (counts) => counts.every((c) => Object.values(c).every((n) => n === 0)),
    );
  } finally {
    await Promise.all(queues.map((queue) => queue.close()));
    redis.disconnect();
  }
  const check = await checkStored(stack.pool, result.accepted, tag);
  // LoadResult.accepted is in the order the answers came.
  const acceptedBeforeCut = new Set([...result.accepted.keys()].slice(0, beforeCut));
  return { result, check, acceptedWhileCut, acceptedBeforeCut };
}

describe('a Redis Cluster master killed under load', () => {
  it('stores every message answered 202 before, during and after the failover, once: the api waits for a replica (REDIS_WAIT_REPLICAS 1)', async () => {
    const { result, check } = await failoverUnderLoad({});
    // With the replica cut off, a write to an ingest queue of that master got 503 (its WAIT
    // fell short); writes to the queues of the other masters may have been answered 202
    // meanwhile. Every 202 is stored, once:
    expect(result.refused.get(503) ?? 0, 'writes reached the cut master and were refused').toBeGreaterThan(0);
    expect([...result.refused.keys()].filter((status) => status !== 503)).toEqual([]);
    expect(check).toEqual({ stored: result.accepted.size, missing: [], duplicates: 0, altered: [], unaccepted: 0 });
  });

  it('without waiting for a replica (REDIS_WAIT_REPLICAS 0), loses messages answered 202 that only the dead master held', async () => {
    const { check, acceptedWhileCut, acceptedBeforeCut } = await failoverUnderLoad({ REDIS_WAIT_REPLICAS: '0' });
    expect(acceptedWhileCut).toBeGreaterThan(0);
    expect(check.missing.length).toBeGreaterThan(0);
    expect(check.missing.filter((id) => acceptedBeforeCut.has(id))).toEqual([]);
  });
});
