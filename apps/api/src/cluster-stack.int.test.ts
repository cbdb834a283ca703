import { randomBytes } from 'node:crypto';
import {
  checkStored,
  send,
  startPrivateRedisCluster,
  startStack,
  TestDevice,
  waitFor,
  type PrivateRedisCluster,
  type Stack,
} from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/*
 * The whole of Esh3ar on a Redis Cluster of 3 masters with a replica each (REDIS_CLUSTER_NODES,
 * REDIS_WAIT_REPLICAS at its default of 1 there): the api, a worker and a gateway as real
 * processes, every one of them reaching Redis only through the seed nodes.
 */
const ADMIN = `adm_${randomBytes(24).toString('base64url')}`;
let cluster: PrivateRedisCluster;
let stack: Stack;
let apiKey: string;
const devices: TestDevice[] = [];

beforeAll(async () => {
  cluster = await startPrivateRedisCluster({ masters: 3, replicas: 1 });
  stack = await startStack('cluster-stack', {
    workers: 1,
    gateways: 1,
    env: { REDIS_CLUSTER_NODES: cluster.nodes, WORKER_BATCH_TIMEOUT_MS: '5', ADMIN_TOKEN: ADMIN },
  });
  ({ apiKey } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 }));
  // The processes listen before their Cluster clients are ready (a few hundred ms: the
  // slots are asked for, then CLUSTER INFO), answering 503 meanwhile, as with Redis down.
  for (const app of [stack.api!, ...stack.gateways])
    await waitFor(
      () => send(app.url, null, 'GET', '/health/ready'),
      (r) => r.status === 200,
    );
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(devices.map((d) => d.close()));
  await stack?.close();
  await cluster?.destroy();
});

const post = (key: string, body: unknown, headers: Record<string, string> = {}) =>
  send(stack.api!.url, key, 'POST', '/v1/messages', body, headers);
const statusOf = async (id: string) => (await send(stack.api!.url, apiKey, 'GET', `/v1/messages/${id}`)).body;

describe('Esh3ar on a Redis Cluster', () => {
  it('stores every message answered 202 exactly once, single and batch', async () => {
    const tag = `cluster-${Date.now()}`;
    const accepted = new Map<string, string>();
    const singles = await Promise.all(
      Array.from({ length: 40 }, (_, i) => `${tag} single ${i}`).map(async (content) => {
        const r = await post(apiKey, { recipient: '+966501234567', channel: 'sms', content });
        expect(r.status).toBe(202);
        return [r.body.id as string, content] as const;
      }),
    );
    for (const [id, content] of singles) accepted.set(id, content);
    const batch = Array.from({ length: 60 }, (_, i) => ({ recipient: '+966501234567', channel: 'sms', content: `${tag} batch ${i}` }));
    const answer = await send(stack.api!.url, apiKey, 'POST', '/v1/messages/batch', { messages: batch });
    expect(answer.status).toBe(202);
    answer.body.results.forEach((r: { id: string }, i: number) => accepted.set(r.id, batch[i]!.content));
    // Asked at once: PostgreSQL may not hold it yet, the buffer index then answers.
    expect((await statusOf(singles[0]![0])).id).toBe(singles[0]![0]);

    const check = await waitFor(
      () => checkStored(stack.pool, accepted, tag),
      (c) => c.missing.length === 0,
    );
    expect(check).toEqual({ stored: 100, missing: [], duplicates: 0, altered: [], unaccepted: 0 });
  });

  it('pushes an app message to the phone’s device over WebSocket; its ack makes it delivered', async () => {
    const phone = '+966551230001';
    const device = await TestDevice.connect(`ws://127.0.0.1:${stack.gateways[0]!.port}/v1/stream`, stack.deviceToken(phone));
    devices.push(device);
    const r = await post(apiKey, { recipient: phone, content: 'over the cluster' });
    expect(r.status).toBe(202);
    await device.waitForMessages(1);
    expect(device.messages()[0]).toMatchObject({ type: 'message', id: r.body.id, content: 'over the cluster' });
    await waitFor(
      () => statusOf(r.body.id),
      (m) => m.status === 'sent',
    );
    device.ack(r.body.id);
    await waitFor(
      () => statusOf(r.body.id),
      (m) => m.status === 'delivered',
    );
  });

  it('limits a tenant’s rate: past its burst, 429 with Retry-After', async () => {
    const limited = await stack.tenant('basic', { rpm: 3, burst: 3 });
    const answers = [];
    for (let i = 0; i < 4; i++)
      answers.push(await post(limited.apiKey, { recipient: '+966501234567', channel: 'sms', content: `limited ${i}` }));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 429]);
    expect(Number(answers[3]!.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('answers a repeated Idempotency-Key with the first answer, and stores the message once', async () => {
    const tag = `cluster-idem-${Date.now()}`;
    const body = { recipient: '+966501234567', channel: 'sms', content: `${tag} once` };
    const first = await post(apiKey, body, { 'idempotency-key': tag });
    const again = await post(apiKey, body, { 'idempotency-key': tag });
    expect([first.status, again.status]).toEqual([202, 202]);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const reused = await post(apiKey, { ...body, content: 'another body' }, { 'idempotency-key': tag });
    expect(reused.status).toBe(422);
    const check = await waitFor(
      () => checkStored(stack.pool, new Map([[first.body.id as string, body.content]]), tag),
      (c) => c.missing.length === 0,
    );
    expect(check.duplicates).toBe(0);
  });

  it('replays a dead letter: its send job reached the queue master’s replica (WAIT) before it left the DLQ', async () => {
    const r = await post(apiKey, { recipient: '+966501234567', channel: 'sms', content: 'to the DLQ and back' });
    expect(r.status).toBe(202);
    const id = r.body.id as string;
    // Dead-lettered as the send processor does after its last attempt (no provider in this stack).
    await waitFor(
      async () =>
        (
          await stack.pool.query(
            "UPDATE messages SET status = 'dead_letter', moved_to_dlq_at = now(), failure_reason = 'test' WHERE id = $1 AND status = 'pending'",
            [id],
          )
        ).rowCount,
      (n) => n === 1,
    );
    const replay = await send(stack.api!.url, ADMIN, 'POST', '/v1/admin/dlq/replay', { ids: [id] });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({ replayed: 1, ids: [id] });
    const events = await stack.pool.query<{ detail: string }>('SELECT detail FROM message_events WHERE message_id = $1 ORDER BY id', [id]);
    expect(events.rows.map((e) => e.detail)).toContain('replayed from the dead-letter queue');
  });
});
