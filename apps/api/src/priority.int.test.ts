import { randomUUID } from 'node:crypto';
import { JOB_PRIORITY, PRIORITIES, type Priority } from '@esh3ar/contracts';
import { ingestJobOptions } from '@esh3ar/queue';
import { deletePrefix, startStack, uniquePrefix, waitFor, type Stack } from '@esh3ar/stack';
import { Queue, Worker, type Job } from 'bullmq';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('BullMQ priorities as the ingest jobs use them (real Redis)', () => {
  const prefix = uniquePrefix('priority-lanes');
  let connection: Redis;
  let run = 0;
  beforeAll(() => {
    connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    connection?.disconnect();
    await deletePrefix(redisUrl, prefix);
  });

  const priority = fc.constantFrom<Priority>(...PRIORITIES);
  const scenario = fc.record({
    before: fc.array(priority, { minLength: 1, maxLength: 25 }),
    // during[k]: jobs added while the k-th job is being processed.
    during: fc.array(fc.array(priority, { maxLength: 4 }), { maxLength: 30 }),
  });

  it('property: for any interleaving of submissions, a worker of concurrency 1 never picks a job while a strictly higher-priority one waits (and takes equal priorities oldest first)', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ before, during }) => {
        const queue = new Queue(`ingest-${run++}`, { connection, prefix });
        const order: string[] = [];
        const waiting = new Map<string, number>(); // added, not yet picked → BullMQ priority
        const picks: { id: string; priority: number; waiting: number[]; olderSamePriority: boolean }[] = [];
        const add = async (p: Priority) => {
          const id = randomUUID();
          waiting.set(id, JOB_PRIORITY[p]);
          order.push(id);
          await queue.add('store-batch', { messages: [] }, ingestJobOptions(p, id));
        };
        for (const p of before) await add(p);

        let finish!: () => void;
        const finished = new Promise<void>((resolve) => (finish = resolve));
        const worker = new Worker(
          queue.name,
          async (job: Job) => {
            const id = job.id!;
            const mine = waiting.get(id)!;
            const addedBefore = order.slice(0, order.indexOf(id));
            picks.push({
              id,
              priority: job.opts.priority!,
              waiting: [...waiting.values()],
              olderSamePriority: addedBefore.some((other) => waiting.get(other) === mine),
            });
            waiting.delete(id);
            for (const p of during[picks.length - 1] ?? []) await add(p);
            if (waiting.size === 0) finish();
          },
          { connection, prefix, concurrency: 1 },
        );
        try {
          await finished;
        } finally {
          await worker.close();
          await queue.obliterate({ force: true });
          await queue.close();
        }
        expect(picks).toHaveLength(order.length);
        for (const pick of picks) {
          expect(pick.priority).toBeGreaterThanOrEqual(1); // a job without priority would jump every prioritized one
          expect(pick.priority).toBeLessThanOrEqual(Math.min(...pick.waiting));
          expect(pick.olderSamePriority).toBe(false);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('a critical message overtakes a backlog of 5,000 low ones', () => {
  // The worker is what is checked here, so it runs as the real process; the api that fills its queue runs in-process.
  let stack: Stack;
  let api: InProcessApp;
  beforeAll(async () => {
    const env = { BUFFER_CAPACITY: '100000' };
    stack = await startStack('priority-backlog', { api: false, env });
    api = await startInProcessApp({ databaseUrl: stack.db.url, redisUrl: stack.env.REDIS_URL!, prefix: stack.prefix, env });
    // The test's own database: record, at the instant the critical row is inserted, how
    // many low rows are there. A BEFORE trigger sees the rows its statement inserted
    // earlier (an AFTER one would run once the whole batch is in).
    await stack.pool.query(`
      CREATE TABLE critical_seen (message_id uuid, low_rows bigint);
      CREATE FUNCTION note_critical() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO critical_seen SELECT NEW.id, count(*) FROM messages WHERE priority = 0;
        RETURN NEW;
      END $$;
      CREATE TRIGGER note_critical BEFORE INSERT ON messages FOR EACH ROW WHEN (NEW.priority = 3) EXECUTE FUNCTION note_critical();
    `);
  });
  afterAll(async () => {
    await api?.close();
    await stack?.close();
  });

  it('is stored (pending) before the backlog drains', async () => {
    const send = api.send;
    const { apiKey, tenantId } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 });
    for (let b = 0; b < 5; b++) {
      const messages = Array.from({ length: 1000 }, (_, i) => ({
        recipient: '+966501234567',
        content: `low ${b * 1000 + i}`,
        priority: 'low',
      }));
      const r = await send(apiKey, 'POST', '/v1/messages/batch', { messages });
      expect(r.body.accepted).toBe(1000);
    }
    const critical = await send(apiKey, 'POST', '/v1/messages', {
      recipient: '+966501234567',
      content: 'your one-time code',
      priority: 'critical',
    });
    expect(critical.status).toBe(202);
    expect((await send(null, 'GET', '/health/ready')).body.checks.buffer.depth).toBe(5001);

    await stack.startWorker();
    const seen = await waitFor(
      () => stack.pool.query<{ low_rows: string }>('SELECT low_rows FROM critical_seen WHERE message_id = $1', [critical.body.id]),
      (r) => r.rows.length === 1,
    );
    const lowWhenCriticalStored = Number(seen.rows[0]!.low_rows);
    expect(lowWhenCriticalStored).toBeLessThan(5000);
    expect((await send(apiKey, 'GET', `/v1/messages/${critical.body.id}`)).body.status).toBe('pending');

    const { rows } = await waitFor(
      () => stack.pool.query<{ n: string }>('SELECT count(*) AS n FROM messages WHERE tenant_id = $1 AND priority = 0', [tenantId]),
      (r) => Number(r.rows[0]!.n) === 5000,
    );
    expect(Number(rows[0]!.n)).toBe(5000);
  });
});
