import { randomUUID } from 'node:crypto';
import { JOBS, sampleBufferedMessage, SEND_JOB_NAME, sendQueueName, type BufferedMessage, type SendJobData } from '@esh3ar/contracts';
import { startPrivateRedisCluster, type PrivateRedisCluster } from '@esh3ar/stack';
import { Worker, type Job, type Queue } from 'bullmq';
import type { Cluster } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { breakerStates, publishOpen, sharedOpenUntil } from './breaker-state.ts';
import { bufferDepth, bufferedState, findBuffered, indexBuffered, removeBuffered } from './buffer.ts';
import { IngestEnqueuer } from './enqueuer.ts';
import { ingestJobs, ingestQueues } from './ingest-jobs.ts';
import { keyEventsChannel, publishKeyEvent } from './key-events.ts';
import { BUFFER_SHARD_TAGS, redisKeys } from './keys.ts';
import {
  addPresence,
  announceCanceled,
  beatGateway,
  gatewayChannel,
  onGatewayMessage,
  onlineGateways,
  presenceKey,
  pruneOwnPresence,
  publishToGateways,
  removePresence,
  subscribeGateway,
} from './presence.ts';
import { providerRateKey, takeTokens } from './provider-rate.ts';
import { createRedis, isCluster, subscriberFor, type RedisClient } from './redis.ts';
import { guardRedisDurability, readRedisDurability } from './redis-durability.ts';
import { replicasOfMyself, replicaWait, ReplicaShortfallError } from './replicas.ts';
import { sendQueues, storedSendJobs } from './send-jobs.ts';

/*
 * Every Redis operation of this package on a real Redis Cluster of 3 masters (Debian's
 * redis-server, as production runs it): a key pair that a script or MULTI touches outside
 * one slot is refused with CROSSSLOT, and a pipeline across masters by ioredis, so each of
 * these fails on a layout or a batch that assumes one server.
 */
let cluster: PrivateRedisCluster;
let redis: Cluster;
const clients: RedisClient[] = [];
const queues: Queue[] = [];
const workers: Worker[] = [];
const prefix = `esh3ar-t-cluster-${randomUUID().slice(0, 8)}`;
const keys = redisKeys(prefix, { cluster: true });

function client(options: { sharded?: boolean; failFast?: boolean } = {}): RedisClient {
  const made = createRedis(
    { url: 'redis://unused', clusterNodes: cluster.seeds },
    { name: 'esh3ar-test-cluster', failFast: options.failFast ?? false, sharded: options.sharded ?? false },
  );
  made.on('error', () => undefined);
  clients.push(made);
  return made;
}

/** The port of the master serving each slot, from CLUSTER SLOTS. */
async function masterOfSlot(): Promise<(slot: number) => number> {
  const ranges = await redis.cluster('SLOTS');
  return (slot) => ranges.find(([from, to]) => slot >= from && slot <= to)![2]![1];
}

beforeAll(async () => {
  cluster = await startPrivateRedisCluster({ masters: 3 });
  const made = client();
  if (!isCluster(made)) throw new Error('createRedis made no Cluster for seed nodes');
  redis = made;
  await redis.connect();
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([...workers, ...queues].map((q) => q.close()));
  for (const c of clients) c.disconnect();
  await cluster?.destroy();
});

describe('key layout on a Cluster', () => {
  it('puts shard n of the buffer index in slots [1024n, 1024n + 1024), so that 3 masters hold 5, 5 and 6 shards', async () => {
    const slots = await Promise.all(keys.bufferShards.map((shard) => redis.cluster('KEYSLOT', shard)));
    expect(slots.map((slot) => Math.floor(slot / 1024))).toEqual(BUFFER_SHARD_TAGS.map((_, n) => n));
    const master = await masterOfSlot();
    const perMaster = new Map<number, number>();
    for (const slot of slots) perMaster.set(master(slot), (perMaster.get(master(slot)) ?? 0) + 1);
    expect([...perMaster.values()].sort()).toEqual([5, 5, 6]);
  });

  it('keeps a tenant’s idempotency record and its since-key in one slot; the one-Redis layout is refused there', async () => {
    const tenant = randomUUID();
    const [record, since] = [keys.idempotency(tenant, 'k'), keys.idempotencySince(tenant)];
    expect(await redis.cluster('KEYSLOT', record)).toBe(await redis.cluster('KEYSLOT', since));
    const script = "return redis.call('MGET', KEYS[1], KEYS[2])";
    await expect(redis.eval(script, 2, record, since)).resolves.toEqual([null, null]);
    const single = redisKeys(prefix);
    await expect(redis.eval(script, 2, single.idempotency(tenant, 'k'), single.idempotencySince(tenant))).rejects.toThrow(/CROSSSLOT/);
  });
});

describe('buffer index and ingest queue on a Cluster', () => {
  const messages = (n: number, tenantId = 'tenant-a'): BufferedMessage[] =>
    Array.from({ length: n }, () => sampleBufferedMessage({ tenantId, priority: 'normal', content: 'c' }));

  it('indexes, finds, counts and removes messages spread over every shard, with their jobs in an ingest queue', async () => {
    const ingest = ingestQueues(redis, keys);
    queues.push(...ingest);
    // Not the first queue: its index entries name the queue their job is in.
    const queue = ingest[3]!;
    const batch = messages(400);
    const jobs = ingestJobs(batch, 100);
    await indexBuffered(redis, keys, jobs, queue.name);
    await queue.addBulk(jobs);

    const perShard = await Promise.all(keys.bufferShards.map((shard) => redis.hlen(shard)));
    expect(perShard.every((n) => n > 0)).toBe(true);
    expect(await bufferDepth(redis, keys)).toBe(400);
    const [first, last] = [batch[0]!, batch.at(-1)!];
    expect(await findBuffered(redis, ingest, keys, 'tenant-a', first.id)).toEqual({ kind: 'queued', message: first });
    expect(await findBuffered(redis, ingest, keys, 'tenant-b', last.id)).toEqual({ kind: 'absent' });
    const ids = batch.map((m) => m.id);
    expect(await bufferedState(redis, ingest, keys, ids)).toEqual({ buffered: ids, indexedWithoutJob: [], queues: [queue.name] });
    // A process that does not know the queue says so rather than answer "not buffered".
    await expect(findBuffered(redis, [ingest[0]!], keys, 'tenant-a', first.id)).rejects.toThrow(`ingest queue "${queue.name}"`);
    await expect(bufferedState(redis, [ingest[0]!], keys, ids)).rejects.toThrow('which this process does not know');

    await removeBuffered(redis, keys, ids);
    expect(await bufferDepth(redis, keys)).toBe(0);
    await queue.obliterate({ force: true });
  });

  it('IngestEnqueuer: one write per tick, each to the next ingest queue, index before jobs, depth exact across shards', async () => {
    const ingest = ingestQueues(redis, keys);
    queues.push(...ingest);
    expect(ingest.map((q) => q.name)).toEqual(keys.ingestQueues);
    const enqueuer = new IngestEnqueuer(ingest, redis, keys, { maxPerJob: 500 });
    const batch = messages(320);
    // 16 writes of 20: each queue takes two.
    for (let i = 0; i < batch.length; i += 20) await Promise.all(batch.slice(i, i + 20).map((m) => enqueuer.enqueue(m)));
    expect(enqueuer.depth).toBe(320);
    const held = await Promise.all(
      ingest.map(async (q) =>
        (await q.getJobs(['waiting', 'prioritized'])).reduce((n, j) => n + (j.data as { messages: unknown[] }).messages.length, 0),
      ),
    );
    expect(held).toEqual(ingest.map(() => 40));
    for (const m of batch.filter((_, i) => i % 16 === 0))
      expect(await findBuffered(redis, ingest, keys, 'tenant-a', m.id)).toEqual({ kind: 'queued', message: m });
    await enqueuer.confirmReplicated();
    await enqueuer.close();
    await removeBuffered(
      redis,
      keys,
      batch.map((m) => m.id),
    );
    await Promise.all(ingest.map((q) => q.obliterate({ force: true })));
  });

  it('spreads the ingest queues over every master, a slot each', async () => {
    const slots = await Promise.all(keys.ingestQueues.map((q) => redis.cluster('KEYSLOT', `${keys.queuePrefix(q)}:${q}:wait`)));
    expect(new Set(slots).size).toBe(keys.ingestQueues.length);
    const masters = new Set(slots.map((slot) => redis.slots[slot]![0]));
    expect(masters.size).toBe(redis.nodes('master').length);
  });

  it('gives each queue a hash tag of its own, and a BullMQ worker takes the jobs from there', async () => {
    const [ingestSlot, smsSlot] = await Promise.all(
      [JOBS.ingest.queue, sendQueueName('sms')].map((q) => redis.cluster('KEYSLOT', `${keys.queuePrefix(q)}:${q}:wait`)),
    );
    expect(ingestSlot).not.toBe(smsSlot);

    const send = sendQueues(redis, keys);
    queues.push(...send.values());
    const taken: Job<SendJobData>[] = [];
    const done = new Promise<void>((resolve) => {
      const worker = new Worker<SendJobData>(
        sendQueueName('sms'),
        async (job) => {
          taken.push(job);
          resolve();
        },
        { connection: client(), prefix: keys.queuePrefix(sendQueueName('sms')), concurrency: 1 },
      );
      workers.push(worker);
    });
    const stored = sampleBufferedMessage({ tenantId: 'tenant-a', channel: 'sms', recipient: '+15550000001' });
    for (const [channel, jobs] of storedSendJobs([stored], Date.now())) await send.get(channel)!.addBulk(jobs);
    await done;
    expect(taken.map((j) => [j.name, j.data.messages.map((m) => m.id)])).toEqual([[SEND_JOB_NAME, [stored.id]]]);
  });
});

describe('presence and gateway channels on a Cluster', () => {
  const phones = Array.from({ length: 60 }, (_, i) => `+1555000${String(i).padStart(4, '0')}`);

  it('registers, reads, prunes and removes phones spread over every master', async () => {
    const master = await masterOfSlot();
    const slotOf = (phone: string) => redis.cluster('KEYSLOT', presenceKey(prefix, phone));
    expect(new Set(await Promise.all(phones.map(async (p) => master(await slotOf(p))))).size).toBe(3);

    await beatGateway(redis, prefix, 'g1', 30_000);
    await addPresence(
      redis,
      prefix,
      phones.map((phone, i) => ({ phone, gatewayId: i % 2 === 0 ? 'g1' : 'g-dead', connectionId: String(i) })),
    );
    const online = await onlineGateways(redis, prefix, phones);
    phones.forEach((phone, i) => expect([...online.get(phone)!]).toEqual(i % 2 === 0 ? ['g1'] : []));
    // The dead gateway's entries were removed on the way (remove-if-unchanged.lua per key).
    expect(await redis.zcard(presenceKey(prefix, phones[1]!))).toBe(0);

    await pruneOwnPresence(redis, prefix, 'g1', phones.slice(0, 10));
    expect(await redis.zcard(presenceKey(prefix, phones[0]!))).toBe(0);
    await removePresence(
      redis,
      prefix,
      phones.slice(10).map((phone, i) => ({ phone, gatewayId: 'g1', connectionId: String(i + 10) })),
    );
    expect([...(await onlineGateways(redis, prefix, phones)).values()].every((g) => g.size === 0)).toBe(true);
  });

  it('carries deliveries and cancel notices on sharded channels, to the subscriber of each gateway only', async () => {
    const gateways = ['ga', 'gb', 'gc', 'gd', 'ge', 'gf'];
    const received = new Map<string, string[]>();
    for (const gatewayId of gateways) {
      const subscriber = client({ sharded: true });
      onGatewayMessage(subscriber, (payload) => received.set(gatewayId, [...(received.get(gatewayId) ?? []), payload]));
      await subscribeGateway(subscriber, gatewayChannel(prefix, gatewayId));
    }
    await publishToGateways(redis, prefix, new Map(gateways.map((g) => [g, `to ${g}`])));
    await beatGateway(redis, prefix, 'ga', 30_000);
    await addPresence(redis, prefix, [{ phone: '+15559990000', gatewayId: 'ga', connectionId: '1' }]);
    await announceCanceled(redis, prefix, [{ id: 'm1', recipient: '+15559990000' }]);
    await expect
      .poll(() => Object.fromEntries(received), { timeout: 5000 })
      .toEqual({
        ga: ['to ga', JSON.stringify({ canceled: [{ id: 'm1', recipient: '+15559990000' }] })],
        ...Object.fromEntries(gateways.slice(1).map((g) => [g, [`to ${g}`]])),
      });
  });

  it('announces key events on a plain channel, heard by a subscriber on whichever node', async () => {
    const subscriber = subscriberFor(redis, 'esh3ar-test-key-events');
    subscriber.on('error', () => undefined);
    clients.push(subscriber);
    const heard: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => heard.push(message));
    await subscriber.subscribe(keyEventsChannel(prefix));
    expect(await publishKeyEvent(redis, prefix, { seq: 7, tenantId: 't', keyId: null })).toBe(true);
    await expect.poll(() => heard, { timeout: 5000 }).toEqual([JSON.stringify({ seq: 7, tenantId: 't', keyId: null })]);
  });
});

describe('workers’ shared state on a Cluster', () => {
  it('takes tokens from a provider bucket (take-tokens.lua)', async () => {
    const key = providerRateKey(prefix, 'sim');
    expect(await takeTokens(redis, key, { perSecond: 10, burst: 5 }, 8, 1_000)).toEqual({ granted: 5, waitMs: 100 });
    expect(await takeTokens(redis, key, { perSecond: 10, burst: 5 }, 8, 1_300)).toEqual({ granted: 3, waitMs: 100 });
  });

  it('shares breaker state, read from keys on several masters', async () => {
    await publishOpen(redis, prefix, 'sms', 'sim', 60_000);
    await publishOpen(redis, prefix, 'email', 'smtp', 60_000);
    expect([...(await sharedOpenUntil(redis, prefix)).keys()].sort()).toEqual(['email:smtp', 'sms:sim']);
    expect(await breakerStates(redis, prefix)).toMatchObject({ sms: 'open', 'sms:sim': 'open', email: 'open', whatsapp: 'closed' });
  });
});

describe('durability on a Cluster', () => {
  it('reads every node’s settings, and names the node that would lose writes', async () => {
    expect((await readRedisDurability(redis)).problems).toEqual([]);
    const [port] = cluster.ports;
    await cluster.node(port!).config('SET', 'appendonly', 'no');
    try {
      const refused: string[] = [];
      guardRedisDurability(redis, {
        allowVolatile: false,
        logger: pino({ level: 'silent' }),
        onRefused: (error) => refused.push(error.message),
      });
      await expect.poll(() => refused, { timeout: 5000 }).toHaveLength(1);
      expect(refused[0]).toContain(`appendonly is no on 127.0.0.1:${port}`);
    } finally {
      await cluster.node(port!).config('SET', 'appendonly', 'yes');
    }
  });

  it('waits for no replica on a master that has none: nobody could be promoted in its place', async () => {
    await redis.set(`${prefix}:wait`, '1');
    await expect(replicaWait(redis, 1, 100)(`${prefix}:wait`)).resolves.toBeUndefined();
  });
});

describe('replicas a master has', () => {
  // CLUSTER NODES as a master whose replica is cut off from it prints it (the replica is not failed: it may be promoted).
  const nodes = [
    'aaa 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460',
    'bbb 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922',
    'ccc 127.0.0.1:7003@17003 slave aaa 0 0 1 connected',
    'ddd 127.0.0.1:7004@17004 slave bbb 0 0 2 connected',
    'eee 127.0.0.1:7005@17005 slave,fail aaa 0 0 1 connected',
  ].join('\n');

  it('counts the replicas listed for `myself`, connected or not, but not those the cluster marked failed', () => {
    expect(replicasOfMyself(nodes)).toBe(1);
  });

  it('refuses a write that a replica did not acknowledge in time (WAIT, one Redis)', async () => {
    // The shared test Redis, which has no replica.
    const single = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { name: 'esh3ar-test-wait', failFast: true });
    clients.push(single);
    await single.connect();
    await expect(replicaWait(single, 1, 100)('any')).rejects.toThrow(ReplicaShortfallError);
  });
});
