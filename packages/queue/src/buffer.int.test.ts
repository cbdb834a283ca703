import { randomUUID } from 'node:crypto';
import { sampleBufferedMessage } from '@esh3ar/contracts';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferDepth, bufferedState, findBuffered, indexBuffered, removeBuffered } from './buffer.ts';
import { ingestJobs } from './ingest-jobs.ts';
import { redisKeys } from './keys.ts';

const prefix = `esh3ar-t-buffer-${randomUUID().slice(0, 8)}`;
const keys = redisKeys(prefix);
let redis: Redis;
let queue: Queue;

beforeAll(async () => {
  redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  queue = new Queue('ingest', { connection: redis, prefix });
});
afterAll(async () => {
  await queue.obliterate({ force: true });
  const left = await redis.keys(`${prefix}:*`);
  if (left.length) await redis.del(...left);
  await queue.close();
  redis.disconnect();
});

describe('buffer index', () => {
  it('finds an indexed message in its job for its tenant only, counts it, and forgets it once removed', async () => {
    const messages = [
      sampleBufferedMessage({ tenantId: 'tenant-a', priority: 'normal' }),
      sampleBufferedMessage({ tenantId: 'tenant-b', priority: 'high' }),
    ];
    const jobs = ingestJobs(messages, 500);
    await indexBuffered(redis, keys, jobs);
    await queue.addBulk(jobs);
    const [a, b] = messages as [(typeof messages)[0], (typeof messages)[0]];

    expect(await bufferDepth(redis, keys)).toBe(2);
    expect(await findBuffered(redis, [queue], keys, 'tenant-a', a.id)).toEqual({ kind: 'queued', message: a });
    expect(await findBuffered(redis, [queue], keys, 'tenant-a', b.id)).toEqual({ kind: 'absent' });
    expect(await findBuffered(redis, [queue], keys, 'tenant-a', randomUUID())).toEqual({ kind: 'absent' });
    const unknown = randomUUID();
    expect(await bufferedState(redis, [queue], keys, [unknown, b.id])).toEqual({
      buffered: [b.id],
      indexedWithoutJob: [],
      queues: ['ingest'],
    });

    // A worker stored the job: its message leaves the job before it leaves the index.
    await queue.obliterate({ force: true });
    expect(await findBuffered(redis, [queue], keys, 'tenant-a', a.id)).toEqual({ kind: 'left' });
    // Indexed, but no job holds it (as after an enqueue that died between index and job).
    expect(await bufferedState(redis, [queue], keys, [a.id, b.id])).toEqual({ buffered: [], indexedWithoutJob: [a.id, b.id], queues: [] });

    await removeBuffered(redis, keys, [a.id, b.id]);
    expect(await bufferDepth(redis, keys)).toBe(0);
    expect(await bufferedState(redis, [queue], keys, [a.id, b.id])).toEqual({ buffered: [], indexedWithoutJob: [], queues: [] });
    expect(await findBuffered(redis, [queue], keys, 'tenant-a', a.id)).toEqual({ kind: 'absent' });
  });
});
