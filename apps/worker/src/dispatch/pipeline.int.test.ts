import { once } from 'node:events';
import { sampleBufferedMessage, type DeliveryItem, type ProviderChannel, type SendJobData } from '@esh3ar/contracts';
import { createDispatchMetrics, createProviderMetrics } from '@esh3ar/observability';
import { createRedis, redisKeys, replicaWait, ReplicaShortfallError, sendQueues } from '@esh3ar/queue';
import { addPresence, beatGateway, gatewayChannel } from '@esh3ar/queue/presence';
import { deletePrefix, uniquePrefix } from '@esh3ar/stack';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedMessagePipeline } from './pipeline.ts';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('pipeline');
let redis: Redis;
let subscriber: Redis;
let queues: Map<ProviderChannel, Queue<SendJobData>>;

beforeAll(async () => {
  redis = createRedis(redisUrl, { name: 'pipeline-test', failFast: false });
  subscriber = createRedis(redisUrl, { name: 'pipeline-test-sub', failFast: false });
  await Promise.all([redis.connect(), subscriber.connect()]);
  queues = sendQueues(redis, redisKeys(prefix));
});

afterAll(async () => {
  await Promise.allSettled([...(queues?.values() ?? [])].map((q) => q.close()));
  redis?.disconnect();
  subscriber?.disconnect();
  await deletePrefix(redisUrl, prefix);
});

describe('the pipeline after a batch is stored', () => {
  it('publishes app messages to the gateway holding their phone, and adds send and fallback jobs once', async () => {
    await beatGateway(redis, prefix, 'g1', 60_000);
    await addPresence(redis, prefix, [{ phone: '+966500000001', gatewayId: 'g1', connectionId: 'c1' }]);
    await subscriber.subscribe(gatewayChannel(prefix, 'g1'));
    const registry = new Registry();
    const dispatchMetrics = createDispatchMetrics(registry);
    const providerMetrics = createProviderMetrics(registry);
    const pipeline = storedMessagePipeline({ redis, prefix, sendQueues: queues, dispatchMetrics, providerMetrics });

    const online = sampleBufferedMessage({ recipient: '+966500000001', channel: 'app' });
    const offline = sampleBufferedMessage({ recipient: '+966500000002', channel: 'app', fallback: 'sms', fallbackAfterSeconds: 60 });
    const sms = sampleBufferedMessage({ recipient: '+966500000003', channel: 'sms' });
    const published = once(subscriber, 'message') as Promise<[string, string]>;
    await pipeline([online, offline, sms]);

    const [, payload] = await published;
    expect((JSON.parse(payload) as DeliveryItem[]).map((item) => item.id)).toEqual([online.id]);
    const dispatched = (await dispatchMetrics.dispatched.get()).values;
    expect(Object.fromEntries(dispatched.map((v) => [v.labels.outcome, v.value]))).toEqual({ routed: 1, offline: 1 });
    expect((await providerMetrics.fallbacks.get()).values.map((v) => [v.labels.channel, v.value])).toEqual([['sms', 1]]);
    const smsQueue = queues.get('sms')!;
    const jobs = await smsQueue.getJobs(['waiting', 'prioritized', 'delayed']);
    const jobOf = (id: string) => jobs.find((j) => j.data.messages.some((m) => m.id === id));
    expect(jobOf(sms.id)?.data.reason).toBe('send');
    expect(await jobOf(offline.id)?.isDelayed()).toBe(true);

    const counts = await smsQueue.getJobCounts();
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(2);

    // Run again, as a retried ingest job does: the jobs' ids keep them from being added twice.
    await pipeline([online, offline, sms]);
    expect(await smsQueue.getJobCounts()).toEqual(counts);
  });

  it('fails when no replica acknowledged the send jobs (WAIT), so that the ingest jobs are retried; the retry adds none twice', async () => {
    const registry = new Registry();
    const deps = {
      redis,
      prefix,
      sendQueues: queues,
      dispatchMetrics: createDispatchMetrics(registry),
      providerMetrics: createProviderMetrics(registry),
    };
    // The shared test Redis has no replica: its WAIT answers 0 after the timeout.
    const waiting = storedMessagePipeline({ ...deps, replicas: replicaWait(redis, 1, 100) });
    const email = sampleBufferedMessage({ recipient: 'someone@example.com', channel: 'email' });
    await expect(waiting([email])).rejects.toThrow(ReplicaShortfallError);
    // Added before the wait failed: the retry (here without replicas to wait for) finds its job.
    await storedMessagePipeline(deps)([email]);
    const jobs = await queues.get('email')!.getJobs(['waiting', 'prioritized']);
    expect(jobs.filter((j) => j.data.messages.some((m) => m.id === email.id))).toHaveLength(1);
  });
});
