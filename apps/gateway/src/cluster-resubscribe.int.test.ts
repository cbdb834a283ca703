import { send, startPrivateRedisCluster, startStack, TestDevice, waitFor, type PrivateRedisCluster, type Stack } from '@esh3ar/stack';
import { afterAll, describe, expect, it } from 'vitest';

/*
 * On a Redis Cluster a gateway hears its deliveries by sharded pub/sub (SSUBSCRIBE): its
 * channel lives on the master of the channel's slot. That master is SIGKILLed and its
 * replica promoted (cluster-node-timeout 2 s); the gateway's subscription must follow the
 * slot to the new master, or every later delivery to its devices is published to nobody
 * (they would arrive only by replay, at the device's next reconnect).
 */
let cluster: PrivateRedisCluster | undefined;
let stack: Stack | undefined;
let device: TestDevice | undefined;

afterAll(async () => {
  await device?.close();
  await stack?.close();
  await cluster?.destroy();
});

/** POST until answered 202: while the failover runs, an api whose write's master is gone answers 503, a promise of nothing. */
async function sendUntilAccepted(url: string, apiKey: string, body: unknown): Promise<string> {
  const answer = await waitFor(
    () => send(url, apiKey, 'POST', '/v1/messages', body),
    (r) => r.status === 202,
    30_000,
    200,
  );
  return answer.body.id as string;
}

describe('a gateway on a Redis Cluster whose master fails over', () => {
  it('hears its deliveries on the promoted replica: a device connected throughout gets the next message live', async () => {
    cluster = await startPrivateRedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 2000 });
    stack = await startStack('cluster-resubscribe', {
      workers: 1,
      gateways: 1,
      env: { REDIS_CLUSTER_NODES: cluster.nodes, WORKER_BATCH_TIMEOUT_MS: '5' },
    });
    const [api, gateway] = [stack.api!, stack.gateways[0]!];
    for (const app of [api, gateway])
      await waitFor(
        () => send(app.url, null, 'GET', '/health/ready'),
        (r) => r.status === 200,
      );
    const { apiKey } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 });
    const phone = '+966551239001';
    device = await TestDevice.connect(`ws://127.0.0.1:${gateway.port}/v1/stream`, stack.deviceToken(phone));

    const before = await sendUntilAccepted(api.url, apiKey, { recipient: phone, content: 'before the failover' });
    await device.waitFor((frames) => frames.some((f) => f.id === before));
    device.ack(before);

    // The master of the gateway's channel, and its replica.
    const gatewayId = String(gateway.logs.find((l) => l.msg === 'gateway listening')?.gatewayId);
    const [any] = cluster.ports;
    const channel = `${stack.prefix}:gateway:${gatewayId}`;
    const slot = await cluster.node(any!).cluster('KEYSLOT', channel);
    const ranges = await cluster.node(any!).cluster('SLOTS');
    const master = ranges.find(([from, to]) => slot >= from && slot <= to)![2]![1];
    const replica = (await cluster.members()).find((m) => m.masterPort === master)!.port;

    const subscribers = async (port: number) => ((await cluster!.node(port).call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number])[1];
    expect(await subscribers(master)).toBe(1);

    await cluster.kill(master);
    await waitFor(
      async () => (await cluster!.members()).find((m) => m.port === replica)?.role,
      (role) => role === 'master',
      30_000,
      100,
    );

    // The gateway subscribed again, on the promoted replica.
    await waitFor(
      () => subscribers(replica),
      (n) => n === 1,
      30_000,
      100,
    );
    // The device never reconnected: only a live push (no replay) can bring this one.
    const after = await sendUntilAccepted(api.url, apiKey, { recipient: phone, content: 'after the failover' });
    await device.waitFor((frames) => frames.some((f) => f.id === after), 30_000);
    expect(device.messages().map((f) => f.content)).toEqual(['before the failover', 'after the failover']);
  }, 120_000);
});
