import { JOBS, sampleBufferedMessage, type BufferedMessage } from '@esh3ar/contracts';
import { createDatabase, createPool, listDeadLetters, type ThrowawayDatabase } from '@esh3ar/db';
import { createPersistMetrics, type PersistMetrics } from '@esh3ar/observability';
import { bufferDepth, createRedis, IngestEnqueuer, redisKeys, type RedisKeys } from '@esh3ar/queue';
import { deletePrefix, uniquePrefix, uuidv7 } from '@esh3ar/stack';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PersistBatcher } from './batcher.ts';
import { ingestProcessor } from './ingest-processor.ts';

// Ingest jobs the way a worker runs them — IngestEnqueuer writing jobs and the buffer index,
// a BullMQ Worker, the ingest processor, the batcher — against real PostgreSQL and Redis,
// with messages that did not come through the api (an older api, a direct enqueue).

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const logger = pino({ level: 'silent' });
const tenants = [uuidv7(), uuidv7()] as const;

let db: ThrowawayDatabase;
let pool: pg.Pool;
let redis: Redis;

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'ingest-poison');
  pool = createPool(db.url, { max: 4, applicationName: 'ingest-poison-test' });
  pool.on('error', () => undefined); // the teardown's DROP ... WITH (FORCE) ends the connections
  // A stand-in for a bug that only some content trips: PL/pgSQL's RAISE (SQLSTATE P0001)
  // for a pending message whose content starts with "poison". Dead letters pass.
  await pool.query(`
    CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'poison %', NEW.id; END $$;
    CREATE TRIGGER refuse_poison BEFORE INSERT ON messages FOR EACH ROW
      WHEN (NEW.status = 'pending' AND NEW.content LIKE 'poison%') EXECUTE FUNCTION refuse_poison();
  `);
  redis = createRedis(REDIS_URL, { name: 'ingest-poison-test', failFast: false });
  await redis.connect();
});
afterAll(async () => {
  await redis?.quit();
  await pool?.end();
  await db?.drop();
});

interface Harness {
  keys: RedisKeys;
  metrics: PersistMetrics;
  batcher: PersistBatcher;
  enqueuer: IngestEnqueuer;
  queue: Queue;
  worker: Worker;
  dispatched: BufferedMessage[];
}
const open: Harness[] = [];

function harness(options: {
  maxAttempts: number;
  batchTimeoutMs?: number;
  storeIn?: pg.Pool;
  concurrency?: number;
  afterStore?: (messages: BufferedMessage[]) => Promise<void>;
}): Harness {
  const prefix = uniquePrefix('ingest-poison');
  const keys = redisKeys(prefix);
  const metrics = createPersistMetrics(new Registry());
  const dispatched: BufferedMessage[] = [];
  const concurrency = options.concurrency ?? 4;
  const batcher = new PersistBatcher({
    pool: options.storeIn ?? pool,
    redis,
    keys,
    metrics,
    logger,
    worker: () => ({ batchSize: 1000, batchTimeoutMs: options.batchTimeoutMs ?? 5, maxAttempts: options.maxAttempts }),
    concurrency,
    schedule: (rows) => rows,
    afterStore:
      options.afterStore ??
      (async (messages) => {
        dispatched.push(...messages);
      }),
  });
  const queue = new Queue(JOBS.ingest.queue, { connection: redis, prefix });
  const enqueuer = new IngestEnqueuer([queue], redis, keys, { maxPerJob: 1000 });
  const worker = new Worker(JOBS.ingest.queue, ingestProcessor(batcher, logger), {
    connection: redis,
    prefix,
    concurrency,
    // Retries at once: the number of attempts is under test, not the backoff.
    settings: { backoffStrategy: () => 1 },
  });
  const h = { keys, metrics, batcher, enqueuer, queue, worker, dispatched };
  open.push(h);
  return h;
}

afterEach(async () => {
  for (const h of open.splice(0)) {
    await h.worker.close();
    await h.batcher.drain();
    await h.enqueuer.close();
    await h.queue.close();
    await deletePrefix(REDIS_URL, h.keys.prefix);
  }
});

/**
 * How a job ends: completed, or failed `enough` times (the old code retried forever). The
 * Worker emits `failed` for every failed attempt, retried or not.
 */
function settled(worker: Worker, jobId: string, enough: number): Promise<{ completed: boolean; failures: number; result: unknown }> {
  return new Promise((resolve) => {
    let failures = 0;
    const done = (completed: boolean, result: unknown) => {
      worker.off('completed', onCompleted);
      worker.off('failed', onFailed);
      resolve({ completed, failures, result });
    };
    const onCompleted = (job: { id?: string }, result: unknown) => {
      if (job.id === jobId) done(true, result);
    };
    const onFailed = (job: { id?: string; finishedOn?: number } | undefined, error: Error) => {
      if (job?.id !== jobId) return;
      failures++;
      if (failures >= enough || job.finishedOn !== undefined) done(false, error.message);
    };
    worker.on('completed', onCompleted);
    worker.on('failed', onFailed);
  });
}

/** Messages accepted in one tick with one priority: one ingest job, named by the first one's id. */
async function enqueueOneJob(h: Harness, messages: BufferedMessage[]): Promise<string> {
  await Promise.all(messages.map((m) => h.enqueuer.enqueue(m)));
  return messages[0]!.id;
}

const message = (over: Partial<BufferedMessage>) => sampleBufferedMessage({ id: uuidv7(), tenantId: tenants[0], ...over });
const storable = (s: string) => s.replaceAll('\u0000', '\uFFFD').toWellFormed();
const counterValue = async (
  counter: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> },
  labels: Record<string, string> = {},
) =>
  (await counter.get()).values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);

async function storedRows(ids: string[]) {
  const { rows } = await pool.query<{
    id: string;
    tenant_id: string;
    status: string;
    recipient: string;
    subject: string | null;
    content: string;
    metadata: Record<string, string> | null;
    failure_reason: string | null;
    copies: number;
  }>(
    'SELECT id, tenant_id, status, recipient, subject, content, metadata, failure_reason, count(*) OVER (PARTITION BY id)::int AS copies FROM messages WHERE id = ANY($1)',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r]));
}

describe('an ingest job holding messages PostgreSQL cannot take as they are', () => {
  it('completes at its first attempt: the good messages of both tenants stored byte-exact once, the hostile ones failed with why, the buffer empty', async () => {
    const h = harness({ maxAttempts: 3 });
    const good = [
      message({ channel: 'sms', recipient: '+966501234567', content: 'tab\t, newline\n, backslash \\N, emoji 😀, مرحبا' }),
      message({ tenantId: tenants[1], content: 'second tenant', metadata: { orderId: '1234' } }),
      message({ tenantId: tenants[1], channel: 'email', recipient: 'someone@example.com', subject: 'Your order', content: 'hello' }),
    ];
    const hostile = [
      message({ channel: 'email', recipient: 'victim\u0000@example.com', content: 'NUL in an email recipient' }),
      message({ tenantId: tenants[1], metadata: { 'order\u0000Id': '1234' }, content: 'NUL in a metadata key' }),
      message({ content: 'a lone surrogate \ud800 in the content' }),
      message({
        tenantId: tenants[1],
        channel: 'email',
        recipient: 'b@example.com',
        subject: 'sub\u0000ject',
        content: 'NUL in the subject',
      }),
    ];
    const all = [good[0]!, hostile[0]!, good[1]!, hostile[1]!, hostile[2]!, good[2]!, hostile[3]!];
    // And one no table can hold: its id is no UUID. It is logged and leaves the buffer too.
    const idless = { ...message({ content: 'no usable id' }), id: 'not-a-uuid' };
    const jobId = await enqueueOneJob(h, [...all, idless]);
    expect(await bufferDepth(redis, h.keys)).toBe(all.length + 1);

    const outcome = await settled(h.worker, jobId, 3);
    expect(outcome).toEqual({ completed: true, failures: 0, result: { stored: all.length, parked: 0 } });

    const rows = await storedRows(all.map((m) => m.id));
    expect(rows.size).toBe(all.length);
    for (const m of good) {
      expect(rows.get(m.id)).toEqual({
        id: m.id,
        tenant_id: m.tenantId,
        status: 'pending',
        recipient: m.recipient,
        subject: m.subject,
        content: m.content,
        metadata: m.metadata,
        failure_reason: null,
        copies: 1,
      });
    }
    for (const m of hostile) {
      expect(rows.get(m.id)).toMatchObject({
        tenant_id: m.tenantId,
        status: 'failed',
        recipient: storable(m.recipient),
        subject: m.subject === null ? null : storable(m.subject),
        content: storable(m.content),
        failure_reason: expect.stringContaining('replaced by U+FFFD'),
        copies: 1,
      });
    }
    expect(rows.get(hostile[1]!.id)?.metadata).toEqual({ 'order\uFFFDId': '1234' });
    // Only what was stored as sent is dispatched.
    expect(h.dispatched.map((m) => m.id).sort()).toEqual(good.map((m) => m.id).sort());
    expect(await bufferDepth(redis, h.keys)).toBe(0);
    expect(await counterValue(h.metrics.rows, { result: 'failed' })).toBe(hostile.length);
    expect(await counterValue(h.metrics.rows, { result: 'stored' })).toBe(good.length);
    expect(await counterValue(h.metrics.unstorable)).toBe(1);
  });

  it('a job given up after its messages were stored (its fan-out kept failing): the provider message becomes a dead letter, not pending for ever; the app message stays pending for its device', async () => {
    const h = harness({
      maxAttempts: 3,
      afterStore: async () => {
        throw new TypeError('fan-out bug');
      },
    });
    const sms = {
      ...sampleBufferedMessage({ id: uuidv7(), tenantId: tenants[0], content: 'stored, never sent' }),
      channel: 'sms' as const,
    };
    const app = sampleBufferedMessage({ id: uuidv7(), tenantId: tenants[0], content: 'for the device' });
    const jobId = await enqueueOneJob(h, [sms, app]);
    const outcome = await settled(h.worker, jobId, 4);
    expect(outcome.completed).toBe(true);
    const { rows } = await pool.query<{ id: string; status: string }>('SELECT id, status FROM messages WHERE id = ANY($1)', [
      [sms.id, app.id],
    ]);
    expect(Object.fromEntries(rows.map((r) => [r.id, r.status]))).toEqual({ [sms.id]: 'dead_letter', [app.id]: 'pending' });
    expect((await listDeadLetters(pool, {}, 1000, null)).map((d) => d.id)).toContain(sms.id);
    expect(await bufferDepth(redis, h.keys)).toBe(0);
  });

  it('a job failing for a reason other than PostgreSQL being unavailable is given up after worker.maxAttempts: its messages become dead letters, the buffer empties', async () => {
    const h = harness({ maxAttempts: 3 });
    const poison = [
      message({ priority: 'high', channel: 'sms', recipient: '+966500000001', content: 'poison 1' }),
      message({ priority: 'high', tenantId: tenants[1], content: 'poison 2' }),
    ];
    const innocent = [message({ content: 'innocent' })];
    await Promise.all([...poison, ...innocent].map((m) => h.enqueuer.enqueue(m))); // two jobs: one per priority
    const [poisonJob, innocentJob] = await Promise.all([settled(h.worker, poison[0]!.id, 4), settled(h.worker, innocent[0]!.id, 4)]);

    // Attempts 1 and 2 fail and are retried; the third is the last, and parks the messages.
    expect(poisonJob).toEqual({ completed: true, failures: 2, result: { stored: 0, parked: 2 } });
    expect(innocentJob).toMatchObject({ completed: true, failures: 0, result: { stored: 1 } });

    const rows = await storedRows([...poison, ...innocent].map((m) => m.id));
    expect(rows.get(innocent[0]!.id)).toMatchObject({ status: 'pending', content: 'innocent', copies: 1 });
    const dlq = await listDeadLetters(pool, {}, 100, null);
    for (const m of poison) {
      expect(rows.get(m.id)).toMatchObject({ status: 'dead_letter', content: m.content, tenant_id: m.tenantId, copies: 1 });
      expect(dlq.find((d) => d.id === m.id)).toMatchObject({
        tenantId: m.tenantId,
        failureReason: expect.stringMatching(/ingest job failed 3 times \(fault\): poison/),
      });
    }
    expect(h.dispatched.map((m) => m.id)).toEqual([innocent[0]!.id]);
    expect(await bufferDepth(redis, h.keys)).toBe(0);
    expect(await counterValue(h.metrics.poisonJobs)).toBe(1);
    expect(await counterValue(h.metrics.deadLetters)).toBe(2);
    expect(await counterValue(h.metrics.ingestFailures, { kind: 'fault' })).toBe(3); // the last attempt's included
  });

  it('one poison job does not fail the other jobs of its batch: they are stored in the same pass', async () => {
    // A long batch timeout, and three job slots: the two jobs below wait together while the
    // first is written, and are flushed as one batch when it ends.
    const h = harness({ maxAttempts: 3, batchTimeoutMs: 60_000, concurrency: 3 });
    const row = (m: BufferedMessage) => ({ message: m, state: { status: 'pending' as const, failureReason: null } });
    const first = h.batcher.store([row(message({ content: 'first' }))]);
    const poison = h.batcher.store([row(message({ content: 'poison in a shared batch' }))]);
    const other = message({ tenantId: tenants[1], content: 'other tenant, same batch' });
    const innocent = h.batcher.store([row(other)]);
    await first;
    await expect(poison).rejects.toMatchObject({ code: 'P0001' });
    await innocent;
    expect((await storedRows([other.id])).get(other.id)).toMatchObject({ status: 'pending', copies: 1 });
    expect(await counterValue(h.metrics.ingestFailures, { kind: 'fault' })).toBe(1);
  });

  it('keeps retrying while PostgreSQL cannot be reached, past worker.maxAttempts, and parks nothing', async () => {
    const unreachable = createPool('postgres://127.0.0.1:1/none', { max: 1, applicationName: 'unreachable' });
    try {
      const h = harness({ maxAttempts: 2, storeIn: unreachable });
      const messages = [message({ content: 'waits for PostgreSQL' }), message({ tenantId: tenants[1], content: 'so do I' })];
      const jobId = await enqueueOneJob(h, messages);
      const outcome = await settled(h.worker, jobId, 6);
      expect(outcome).toMatchObject({ completed: false, failures: 6, result: expect.stringContaining('ECONNREFUSED') });
      await h.worker.close();
      const job = await h.queue.getJob(jobId);
      expect(job?.finishedOn).toBeUndefined(); // not failed for good: still to be retried
      expect(await bufferDepth(redis, h.keys)).toBe(messages.length);
      expect(await counterValue(h.metrics.poisonJobs)).toBe(0);
      // The worker may have begun a seventh attempt before it closed.
      expect(await counterValue(h.metrics.ingestFailures, { kind: 'unavailable' })).toBeGreaterThanOrEqual(6);
      expect((await storedRows(messages.map((m) => m.id))).size).toBe(0);
    } finally {
      await unreachable.end();
    }
  });
});
