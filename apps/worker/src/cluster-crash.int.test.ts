import { createRedis, ingestQueues, redisKeys } from '@esh3ar/queue';
import { checkStored, send, startPrivateRedisCluster, startStack, waitFor, type PrivateRedisCluster, type Stack } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/*
 * Workers SIGKILLed while they hold jobs of several ingest queues, on a Redis Cluster of 3
 * masters (8 ingest queues spread over them): each queue's BullMQ worker gives its stalled
 * jobs back once their lock expires, and the next workers store every message once.
 */
let cluster: PrivateRedisCluster;
let stack: Stack;

beforeAll(async () => {
  cluster = await startPrivateRedisCluster({ masters: 3 });
  stack = await startStack('cluster-crash', {
    env: {
      REDIS_CLUSTER_NODES: cluster.nodes,
      WORKER_LOCK_DURATION_MS: '2000',
      WORKER_RETRY_BASE_MS: '50',
      WORKER_RETRY_MAX_MS: '1000',
      WORKER_BATCH_SIZE: '200',
      LOG_LEVEL: 'debug',
    },
  });
  await waitFor(
    () => send(stack.api!.url, null, 'GET', '/health/ready'),
    (r) => r.status === 200,
  );
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await cluster?.destroy();
});

/** Jobs waiting, prioritized or held (active) in each ingest queue. */
async function jobsPerQueue(): Promise<number[]> {
  const redis = createRedis({ url: 'redis://unused', clusterNodes: cluster.seeds }, { name: 'esh3ar-test-cluster-crash', failFast: false });
  const queues = ingestQueues(redis, redisKeys(stack.prefix, { cluster: true }));
  try {
    const counts = await Promise.all(queues.map((q) => q.getJobCounts('wait', 'prioritized', 'active')));
    return counts.map((c) => Object.values(c).reduce((a, b) => a + b, 0));
  } finally {
    await Promise.all(queues.map((q) => q.close()));
    redis.disconnect();
  }
}

describe('workers SIGKILLed on a Redis Cluster', () => {
  it('lose nothing and store nothing twice: the jobs of every ingest queue come back and are stored once', async () => {
    const { apiKey } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 });
    const tag = `cluster-crash-${Date.now()}`;
    const accepted = new Map<string, string>();
    for (let round = 0; round < 2; round++) {
      const worker = await stack.startWorker();
      const sending = Promise.all(
        Array.from({ length: 20 }, async (_, r) => {
          const contents = Array.from({ length: 100 }, (__, i) => `${tag} ${round}-${r}-${i}`);
          const answer = await send(stack.api!.url, apiKey, 'POST', '/v1/messages/batch', {
            messages: contents.map((content) => ({ recipient: '+966501234567', channel: 'sms', content })),
          });
          expect(answer.status).toBe(202);
          answer.body.results.forEach((x: { id: string }, i: number) => accepted.set(x.id, contents[i]!));
        }),
      );
      await worker.waitForLog((l) => l.msg === 'batch stored');
      expect((await worker.stop('SIGKILL')).signal).toBe('SIGKILL');
      stack.workers.splice(stack.workers.indexOf(worker), 1);
      await sending;
    }
    // The kills left work behind, in more than one queue.
    const left = await jobsPerQueue();
    expect(left.filter((n) => n > 0).length).toBeGreaterThan(1);

    await Promise.all([stack.startWorker(), stack.startWorker()]);
    const check = await waitFor(
      () => checkStored(stack.pool, accepted, tag),
      (c) => c.missing.length === 0,
      90_000,
      200,
    );
    expect(check).toEqual({ stored: 4000, missing: [], duplicates: 0, altered: [], unaccepted: 0 });
    const ready = await waitFor(
      () => send(stack.api!.url, null, 'GET', '/health/ready'),
      (r) => r.body.checks.buffer.depth === 0,
    );
    expect(ready.body.checks.buffer.depth).toBe(0);
  });
});
