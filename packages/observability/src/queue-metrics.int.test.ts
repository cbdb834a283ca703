import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueueMetrics } from './queue-metrics.ts';

// Real BullMQ queues on real Redis, under a prefix of their own.
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `esh3ar-t-queue-metrics-${randomBytes(4).toString('hex')}`;
let redis: Redis;
let sms: Queue;
let ingest: Queue;

/** The gauge's samples, as "queue state value" lines. */
async function scrape(registry: Registry): Promise<string[]> {
  return (await registry.metrics())
    .split('\n')
    .filter((line) => line.startsWith('esh3ar_queue_jobs{'))
    .map((line) => {
      const [, labels = '', value] = /^esh3ar_queue_jobs\{(.*)\} (\S+)$/.exec(line) ?? [];
      const label = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(labels)?.[1];
      return `${label('queue')} ${label('state')} ${value}`;
    })
    .sort();
}

beforeAll(async () => {
  redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  sms = new Queue('send-sms', { connection: redis, prefix });
  ingest = new Queue('ingest', { connection: redis, prefix });
  await sms.add('send', {});
  await sms.add('send', {});
  await sms.add('send', {}, { delay: 60_000 });
  await ingest.add('ingest', {}, { priority: 1 });
  await ingest.add('ingest', {}, { priority: 4 });
});
afterAll(async () => {
  await Promise.all([sms?.obliterate({ force: true }), ingest?.obliterate({ force: true })]);
  await Promise.all([sms?.close(), ingest?.close()]);
  redis?.disconnect();
});

describe('esh3ar_queue_jobs', () => {
  it('reads each queue’s jobs by state from Redis at every scrape', async () => {
    const registry = new Registry();
    createQueueMetrics(registry, [ingest, sms]);
    expect(await scrape(registry)).toEqual(
      [
        'ingest waiting 0',
        'ingest prioritized 2',
        'ingest delayed 0',
        'ingest active 0',
        'ingest failed 0',
        'send-sms waiting 2',
        'send-sms prioritized 0',
        'send-sms delayed 1',
        'send-sms active 0',
        'send-sms failed 0',
      ].sort(),
    );
    await sms.add('send', {});
    expect(await scrape(registry)).toContain('send-sms waiting 3');
  });

  it('reports no series for a queue it can no longer read, rather than its last numbers', async () => {
    // A connection that fails at once when Redis is gone, as the api's failFast ones do.
    const flaky = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    flaky.on('error', () => undefined); // the lost connection is the point here
    const email = new Queue('send-email', { connection: flaky, prefix });
    email.on('error', () => undefined);
    try {
      await email.add('send', {});
      const registry = new Registry();
      createQueueMetrics(registry, [sms, email]);
      expect(await scrape(registry)).toContain('send-email waiting 1');
      flaky.disconnect();
      const lines = await scrape(registry);
      expect(lines.filter((l) => l.startsWith('send-sms'))).toHaveLength(5);
      expect(lines.filter((l) => l.startsWith('send-email'))).toEqual([]);
    } finally {
      flaky.disconnect();
      const cleanup = new Queue('send-email', { connection: redis, prefix });
      await cleanup.obliterate({ force: true });
      await cleanup.close();
    }
  });
});
