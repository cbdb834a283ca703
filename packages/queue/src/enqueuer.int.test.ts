import { randomUUID } from 'node:crypto';
import { sampleBufferedMessage, type BufferedMessage } from '@esh3ar/contracts';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferedState, findBuffered } from './buffer.ts';
import { IngestEnqueuer } from './enqueuer.ts';
import { redisKeys } from './keys.ts';
import { ReplicaShortfallError } from './replicas.ts';

const prefix = `esh3ar-t-enqueuer-${randomUUID().slice(0, 8)}`;
const keys = redisKeys(prefix);
let redis: Redis;
let queue: Queue;

const message = (priority: BufferedMessage['priority']): BufferedMessage =>
  sampleBufferedMessage({ tenantId: 'tenant-a', priority, content: 'c' });

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

describe('IngestEnqueuer', () => {
  it('writes what one tick brings as one job per priority, indexes every message, and reports the depth', async () => {
    const flushes: number[] = [];
    const enqueuer = new IngestEnqueuer([queue], redis, keys, { maxPerJob: 500, onFlush: (n) => flushes.push(n) });
    const messages = [...Array.from({ length: 30 }, () => message('normal')), ...Array.from({ length: 5 }, () => message('critical'))];
    const written = Promise.all(messages.map((m) => enqueuer.enqueue(m)));
    // Counted for admission from the call on, before Redis has them.
    expect([enqueuer.depth, enqueuer.admittedDepth]).toEqual([0, 35]);
    await written;
    expect(flushes).toEqual([35]);
    const jobs = await queue.getJobs(['waiting', 'prioritized']);
    expect(jobs.map((j) => [j.opts.priority, (j.data as { messages: unknown[] }).messages.length]).sort()).toEqual([
      [1, 5],
      [3, 30],
    ]);
    expect([enqueuer.depth, enqueuer.admittedDepth]).toEqual([35, 35]);
    for (const m of messages) expect(await findBuffered(redis, [queue], keys, 'tenant-a', m.id)).toEqual({ kind: 'queued', message: m });
    await enqueuer.close();
    await expect(enqueuer.enqueue(message('low'))).rejects.toThrow('closed');
  });

  it('gathers what arrives while a write is in flight into the next write, begun when that one ends', async () => {
    // The buffer index's HSET answers only once the gate opens: the first write stays in flight.
    const gate = Promise.withResolvers<void>();
    const held = new Proxy(redis, {
      get(target, property) {
        if (property === 'hset')
          return async (...args: Parameters<Redis['hset']>) => {
            const answer = await target.hset(...args);
            await gate.promise;
            return answer;
          };
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const flushes: number[] = [];
    const enqueuer = new IngestEnqueuer([queue], held, keys, { maxPerJob: 500, onFlush: (n) => flushes.push(n) });
    const first = enqueuer.enqueue(message('normal'));
    const later: Promise<void>[] = [];
    for (let turn = 0; turn < 3; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
      later.push(enqueuer.enqueue(message('normal')));
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(flushes).toEqual([]);
    gate.resolve();
    await Promise.all([first, ...later]);
    // Three turns of the event loop, one write for them.
    expect(flushes).toEqual([1, 3]);
    await enqueuer.close();
  });

  it('rejects a write no replica acknowledged (WAIT), and keeps its messages indexed with their job', async () => {
    // The shared test Redis has no replica: its WAIT answers 0 after its 1 s timeout.
    const enqueuer = new IngestEnqueuer([queue], redis, keys, { maxPerJob: 500, waitReplicas: 1 });
    const m = message('normal');
    await expect(enqueuer.enqueue(m)).rejects.toThrow(ReplicaShortfallError);
    // A repeat of the request (same Idempotency-Key) finds it buffered rather than taking it as never written.
    expect(await bufferedState(redis, [queue], keys, [m.id])).toEqual({ buffered: [m.id], indexedWithoutJob: [], queues: ['ingest'] });
    await enqueuer.close();
  });

  it('rejects every caller of a write Redis refused, and leaves nothing indexed', async () => {
    const broken = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true, enableOfflineQueue: false });
    const clientErrors: Error[] = [];
    broken.on('error', (error: Error) => clientErrors.push(error));
    const brokenQueue = new Queue('ingest', { connection: redis, prefix });
    const enqueuer = new IngestEnqueuer([brokenQueue], broken, keys, { maxPerJob: 500 });
    const m = message('high');
    await expect(enqueuer.enqueue(m)).rejects.toThrow();
    expect(enqueuer.admittedDepth).toBe(0);
    expect(await bufferedState(redis, [brokenQueue], keys, [m.id])).toEqual({ buffered: [], indexedWithoutJob: [], queues: [] });
    await brokenQueue.close();
    broken.disconnect();
  });

  it('writes to its queues in turn, and passes over one whose write failed while the others take the writes', async () => {
    // The second queue's Redis is not there (nothing listens on port 1): its writes fail as on a master that is down.
    const down = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null });
    down.on('error', () => undefined);
    const other = new Queue('ingest-1', { connection: redis, prefix });
    const failing = new Queue('ingest-2', { connection: down, prefix });
    failing.on('error', () => undefined); // the refused connection, which the failed write reports
    const enqueuer = new IngestEnqueuer([queue, failing, other], redis, keys, { maxPerJob: 500 });
    const held = async (q: Queue) => (await q.getJobs(['waiting', 'prioritized'])).length;
    const before = await held(queue);
    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++)
      outcomes.push(
        await enqueuer.enqueue(message('normal')).then(
          () => 'ok',
          () => 'failed',
        ),
      );
    // In turn: ingest, ingest-2 (fails, set aside for 5 s), ingest-1, then ingest and ingest-1 only.
    expect(outcomes).toEqual(['ok', 'failed', 'ok', 'ok', 'ok', 'ok']);
    expect([(await held(queue)) - before, await held(other)]).toEqual([3, 2]);
    await enqueuer.close();
    await other.obliterate({ force: true });
    await Promise.all([other.close(), failing.close()]);
    down.disconnect();
  });
});
