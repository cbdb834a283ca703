import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { sampleBufferedMessage, sendQueueName, type BufferedMessage, type ProviderChannel, type SendJobData } from '@esh3ar/contracts';
import { createPool, createTenant, replayDeadLetters, storeBatch } from '@esh3ar/db';
import { createRedis, enqueueReplays, redisKeys, sendQueues, storedSendJobs } from '@esh3ar/queue';
import { createDatabase, deletePrefix, freePort, uniquePrefix, uuidv7, waitFor, type ThrowawayDatabase } from '@esh3ar/stack';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider, inProcessSendProcessor } from './fake-provider.test-kit.ts';

/**
 * DLQ replay is atomic (POST /v1/admin/dlq/replay and `esh3ar dlq replay` both run
 * replayDeadLetters with enqueueReplays): after a replay that Redis failed half-way, every
 * message is still a dead letter, and after one that succeeded every message is pending
 * with a job that sends it once. In-process: the real SQL, the real enqueue and the real
 * send processor; the whatsapp queue lives on a redis-server of this file's own, killed
 * mid-replay, while the sms queue's Redis stays up.
 */

let db: ThrowawayDatabase;
let pool: pg.Pool;
let tenantId: string;
let provider: FakeProvider;
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('dlq-replay');
let redis: Redis;
/** Every channel's queue on the shared Redis. */
let queues: Map<ProviderChannel, Queue<SendJobData>>;

/** A redis-server of this file's own (no persistence), ready once a client finds it answering. */
class PrivateRedis {
  #child: ChildProcess | undefined;
  readonly port: number;
  constructor(port: number) {
    this.port = port;
  }
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    this.#child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
  }
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
}

/** Resolves when the client is connected again (events.once would reject at the refusals before). */
const ready = (client: Redis) => new Promise<void>((resolve) => client.once('ready', () => resolve()));

/** A connection as the api and the CLI open theirs (failFast: a command fails at once while Redis is down), ready. */
async function connect(url: string, name: string): Promise<Redis> {
  const client = createRedis(url, { name, failFast: true });
  client.on('error', () => undefined); // refused connections while the server starts or is down: the test awaits 'ready'
  const connected = ready(client);
  client.connect().catch(() => undefined); // retried by its retryStrategy until the server answers
  await connected;
  return client;
}

async function jobsFor(queue: Queue<SendJobData>, ids: readonly string[]): Promise<Job<SendJobData>[]> {
  const jobs = await queue.getJobs(['waiting', 'prioritized', 'delayed']);
  return jobs.filter((j) => j.data.messages.some((m) => ids.includes(m.id)));
}

/** The ids a set of jobs holds. */
const idsIn = (jobs: readonly Job<SendJobData>[]) => jobs.flatMap((j) => j.data.messages.map((m) => m.id)).sort();

async function statuses(ids: readonly string[]): Promise<Record<string, string>> {
  const { rows } = await pool.query<{ id: string; status: string }>('SELECT id, status FROM messages WHERE id = ANY($1)', [ids]);
  return Object.fromEntries(rows.map((r) => [r.id, r.status]));
}

const processor = () => inProcessSendProcessor(pool, provider.url, 1, queues);

/** Messages stored, sent once, refused with a 503 and (one attempt allowed) dead-lettered. */
async function deadLetters(channels: readonly ('sms' | 'whatsapp')[]): Promise<BufferedMessage[]> {
  const messages = channels.map((channel, i) =>
    sampleBufferedMessage({ id: uuidv7(), tenantId, channel, recipient: `+96650${String(1_000_000 + i)}` }),
  );
  await storeBatch(
    pool,
    messages.map((message) => ({ message, state: { status: 'pending', failureReason: null } })),
  );
  for (const [channel, jobs] of storedSendJobs(messages, Date.now())) await queues.get(channel)!.addBulk(jobs);
  provider.answer = 'unavailable';
  const send = processor();
  for (const channel of new Set(channels)) {
    for (const job of await jobsFor(
      queues.get(channel)!,
      messages.map((m) => m.id),
    )) {
      expect([...(await send(job)).values()].every((o) => o === 'dead_letter')).toBe(true);
      await job.remove();
    }
  }
  return messages;
}

/** How many backends of this database wait for a lock (a claim waiting for a replay's transaction). */
async function lockWaits(): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
  );
  return rows[0]!.n;
}

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'dlq-replay');
  pool = createPool(db.url, { max: 6, applicationName: 'dlq-replay-test' });
  pool.on('error', () => undefined); // the teardown drops the database WITH (FORCE)
  ({
    tenant: { id: tenantId },
  } = await createTenant(pool, { name: 'dlq replay', tier: 'enterprise' }));
  redis = await connect(redisUrl, 'dlq-replay-test');
  queues = sendQueues(redis, redisKeys(prefix));
  provider = new FakeProvider();
  await provider.start();
});

afterAll(async () => {
  await Promise.allSettled([...(queues?.values() ?? [])].map((q) => q.close()));
  redis?.disconnect();
  await deletePrefix(redisUrl, prefix);
  await provider?.stop();
  await pool?.end();
  await db?.drop();
});

describe('DLQ replay', () => {
  it('Redis failing half-way leaves every message in the DLQ; the jobs it did add send nothing; a replay once Redis is back sends each once', async () => {
    const messages = await deadLetters(['sms', 'sms', 'whatsapp', 'whatsapp']);
    const ids = messages.map((m) => m.id);
    const whatsappRedis = new PrivateRedis(await freePort());
    await whatsappRedis.start();
    const whatsappConnection = await connect(whatsappRedis.url, 'dlq-replay-whatsapp');
    // sms jobs go to the shared Redis, which stays up; whatsapp jobs to the private one, killed now.
    const whatsappQueue = new Queue<SendJobData>(sendQueueName('whatsapp'), { connection: whatsappConnection, prefix });
    whatsappQueue.on('error', () => undefined); // the killed server, which the replay's failure reports
    const split = new Map<ProviderChannel, Queue<SendJobData>>([...queues, ['whatsapp', whatsappQueue]]);
    try {
      // Ready before Redis dies, as the api's queues are (made at start-up): BullMQ keeps the
      // outcome of a queue's first connection check, and one made while Redis is down stays failed.
      await whatsappQueue.waitUntilReady();
      await whatsappRedis.kill();
      await expect(replayDeadLetters(pool, ids, (moved) => enqueueReplays(split, moved))).rejects.toThrow();
      expect(Object.values(await statuses(ids))).toEqual(['dead_letter', 'dead_letter', 'dead_letter', 'dead_letter']);
      const histories = await pool.query<{ status: string }>('SELECT status FROM message_events WHERE message_id = ANY($1) ORDER BY id', [
        ids,
      ]);
      expect(histories.rows.at(-1)?.status, 'no replay event is left behind').toBe('dead_letter');

      // Half-way: the sms queue took its jobs before the whatsapp one failed. They find their message dead-lettered.
      const orphans = await jobsFor(queues.get('sms')!, ids);
      expect(idsIn(orphans)).toEqual(ids.slice(0, 2).sort());
      provider.answer = 'accept';
      const calls = provider.calls.length;
      const send = processor();
      for (const job of orphans) {
        expect([...(await send(job)).values()]).toEqual(['skipped', 'skipped']);
        await job.remove();
      }
      expect(provider.calls.length).toBe(calls);

      const back = ready(whatsappConnection);
      await whatsappRedis.start();
      await back;
      const replayed = await replayDeadLetters(pool, ids, (moved) => enqueueReplays(split, moved));
      expect(replayed.map((m) => m.id).sort()).toEqual([...ids].sort());
      expect(Object.values(await statuses(ids))).toEqual(['pending', 'pending', 'pending', 'pending']);
      const jobs = [...(await jobsFor(split.get('sms')!, ids)), ...(await jobsFor(split.get('whatsapp')!, ids))];
      expect(idsIn(jobs)).toEqual([...ids].sort());
      for (const job of jobs) expect([...(await send(job)).values()]).toEqual(['sent', 'sent']);
      expect(Object.values(await statuses(ids))).toEqual(['sent', 'sent', 'sent', 'sent']);
      expect(
        provider.calls
          .slice(calls)
          .map((c) => c.idempotencyKey)
          .sort(),
      ).toEqual([...ids].sort());
    } finally {
      await whatsappQueue.close();
      whatsappConnection.disconnect();
      await whatsappRedis.kill();
    }
  });

  it('a job taken while the replay is still enqueuing waits for it: sent once it commits', async () => {
    const [m] = await deadLetters(['sms']);
    provider.answer = 'accept';
    let outcome: Promise<Map<string, string>> | undefined;
    await replayDeadLetters(pool, [m!.id], async (moved) => {
      await enqueueReplays(queues, moved);
      const [job] = await jobsFor(queues.get('sms')!, [m!.id]);
      outcome = processor()(job!);
      // The job's claim waits for this transaction's row lock.
      await waitFor(lockWaits, (n) => n === 1, 10_000, 20);
    });
    expect((await outcome)?.get(m!.id)).toBe('sent');
    expect(await statuses([m!.id])).toEqual({ [m!.id]: 'sent' });
  });

  it('a job taken while the replay is still enqueuing waits for it: nothing sent when it rolls back', async () => {
    const [m] = await deadLetters(['sms']);
    provider.answer = 'accept';
    const calls = provider.calls.length;
    let outcome: Promise<Map<string, string>> | undefined;
    const failed = replayDeadLetters(pool, [m!.id], async (moved) => {
      await enqueueReplays(queues, moved);
      const [job] = await jobsFor(queues.get('sms')!, [m!.id]);
      outcome = processor()(job!);
      await waitFor(lockWaits, (n) => n === 1, 10_000, 20);
      throw new Error('Redis failed after this job was added');
    });
    await expect(failed).rejects.toThrow('Redis failed');
    expect((await outcome)?.get(m!.id)).toBe('skipped');
    expect(provider.calls.length).toBe(calls);
    expect(await statuses([m!.id])).toEqual({ [m!.id]: 'dead_letter' });
  });
});
