import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BufferedMessage, IngestJobData } from '@esh3ar/contracts';
import { createDatabase, createTenant } from '@esh3ar/db';
import { bufferDepth, IngestEnqueuer, redisKeys } from '@esh3ar/queue';
import type { RuntimeConfig } from '@esh3ar/runtime';
import { deletePrefix, uniquePrefix } from '@esh3ar/stack';
import type { Queue } from 'bullmq';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp } from './in-process-app.test-kit.ts';
import { bufferStorer } from './store-buffered.test-kit.ts';

/*
 * Idempotency-Key when Redis forgets, when a request dies holding its key, and what a key
 * costs Redis: the real app in-process (inject, in-process-app.test-kit.ts) against real
 * PostgreSQL and Redis. The storing path is a worker's (store-buffered.test-kit.ts), run
 * when a test says so. Its enqueuer can stall chosen messages forever, before or after
 * Redis holds them: a request that hangs there holds its key's lease as one whose process
 * died would.
 */

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('idempotency');
const keys = redisKeys(prefix);
const closers: (() => Promise<unknown>)[] = [];
let app: FastifyInstance;
let pool: pg.Pool;
let redis: Redis;
let queue: Queue;
let enqueuer: StallingEnqueuer;
/** The buffer settings in force instead of the environment's, while a test sets them. */
let buffer: RuntimeConfig['buffer'] | null = null;
/** PostgreSQL statements the app ran, by name (sql/*.sql file, else verb). */
let statements: Map<string, number>;
/** What a worker does with the buffered messages, one call at a time. */
let storeBuffered: () => Promise<number>;

class StallingEnqueuer extends IngestEnqueuer {
  readonly #stalls = new Map<string, { when: 'before' | 'indexed' | 'after'; reached: PromiseWithResolvers<void> }>();
  readonly #end = Promise.withResolvers<void>();

  /**
   * The next message with this content never gets an answer: written to Redis first
   * ('after'), not at all ('before'), or only its index entry, as when Redis dies between
   * the index write and the job ('indexed'). Resolves when it arrives.
   */
  stall(content: string, when: 'before' | 'indexed' | 'after'): Promise<void> {
    const reached = Promise.withResolvers<void>();
    this.#stalls.set(content, { when, reached });
    return reached.promise;
  }

  override async enqueue(message: BufferedMessage): Promise<void> {
    const stall = this.#stalls.get(message.content);
    if (stall === undefined) return super.enqueue(message);
    this.#stalls.delete(message.content);
    if (stall.when === 'after') await super.enqueue(message);
    if (stall.when === 'indexed') {
      // Buffered, then its job taken away: what Redis holds when it died after the index write.
      await super.enqueue(message);
      const jobs = await queue.getJobs();
      const job = jobs.find((j) => (j.data as IngestJobData).messages.some((m) => m.id === message.id));
      if (job === undefined) throw new Error('the stalled message has no job to take away');
      await job.remove();
    }
    stall.reached.resolve();
    await this.#end.promise;
    throw new Error('a stalled enqueue never answers');
  }

  /** The stalled requests fail, so that the test can wait for them. */
  end(): void {
    this.#end.resolve();
  }
}

beforeAll(async () => {
  const db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'idempotency');
  closers.push(
    () => db.drop(),
    () => deletePrefix(redisUrl, prefix),
  );
  const api = await startInProcessApp({
    databaseUrl: db.url,
    redisUrl,
    prefix,
    poolMax: 8,
    runtime: (base) => (buffer === null ? base : { ...base, buffer }),
    createEnqueuer: (...args) => (enqueuer = new StallingEnqueuer(...args)),
  });
  closers.push(() => api.close());
  ({ app, pool, redis, queue, statements } = api);
  storeBuffered = bufferStorer(api);
});

const pendingRequests: Promise<unknown>[] = [];
afterAll(async () => {
  enqueuer?.end();
  await Promise.allSettled(pendingRequests);
  const failures: unknown[] = [];
  for (const close of closers.reverse()) await close().catch((error: unknown) => failures.push(error));
  if (failures.length > 0) throw new AggregateError(failures, 'releasing the test app failed');
});

const message = (over: Record<string, unknown> = {}) => ({ recipient: '+966501234567', content: 'Your order has shipped', ...over });

async function tenant(): Promise<{ id: string; authorization: string }> {
  const { tenant: t, apiKey } = await createTenant(pool, { name: 'idempotency', tier: 'enterprise', rpm: 100_000_000, burst: 100_000_000 });
  return { id: t.id, authorization: `Bearer ${apiKey}` };
}

function post(who: { authorization: string }, url: string, body: unknown, key: string): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url,
    payload: body as object,
    headers: { authorization: who.authorization, 'content-type': 'application/json', 'idempotency-key': key },
  });
}

async function storedIds(tenantId: string): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>('SELECT id FROM messages WHERE tenant_id = $1 ORDER BY id', [tenantId]);
  return rows.map((r) => r.id);
}

/**
 * Redis loses every idempotency record of this prefix, as a restart without its AOF, a
 * FLUSHALL or a replica promoted without them would: both key layouts ("idem:" before this
 * change, "idempotency:" after), records and the time Redis has held them since.
 */
async function forgetIdempotencyRecords(): Promise<void> {
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:idem*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) await redis.unlink(...found);
  } while (cursor !== '0');
}

describe('after Redis lost its idempotency records', () => {
  it('a repeat of a stored message gets the first id again, replayed, and nothing new is stored', async () => {
    const t = await tenant();
    const first = await post(t, '/v1/messages', message(), 'order-1234');
    expect(first.statusCode).toBe(202);
    await storeBuffered();
    await forgetIdempotencyRecords();

    const again = await post(t, '/v1/messages', message(), 'order-1234');
    expect(again.statusCode).toBe(202);
    expect(again.json()).toEqual(first.json());
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers.location).toBe(`/v1/messages/${first.json().id}`);
    // Redis holds the answer again: the next repeat is answered without PostgreSQL.
    const lookups = statements.get('idempotency-messages') ?? 0;
    expect((await post(t, '/v1/messages', message(), 'order-1234')).json()).toEqual(first.json());
    expect(statements.get('idempotency-messages') ?? 0).toBe(lookups);
    await storeBuffered();
    expect(await storedIds(t.id)).toEqual([first.json().id]);
  });

  it('the same key with another body is 422 IDEMPOTENCY_KEY_REUSED, and nothing is stored for it', async () => {
    const t = await tenant();
    const first = await post(t, '/v1/messages', message(), 'reused');
    await storeBuffered();
    await forgetIdempotencyRecords();

    const other = await post(t, '/v1/messages', message({ content: 'something else' }), 'reused');
    expect(other.statusCode).toBe(422);
    expect(other.json().error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    await storeBuffered();
    expect(await storedIds(t.id)).toEqual([first.json().id]);
  });

  it('a batch repeat gets every result again in order: ids, refusals by validation and by backpressure with their words', async () => {
    const t = await tenant();
    // Every normal message over the watermark, critical ones admitted: the batch's refusals are by priority.
    buffer = { capacity: 1_000_000, highWatermark: 0 };
    const batch = {
      messages: [
        message({ content: 'same' }),
        message({ recipient: 'not a number' }),
        message({ content: 'same', priority: 'critical' }),
        message({ content: 'same' }),
        message({ priority: 'critical', metadata: { b: '2', a: '1' } }),
      ],
    };
    const first = await post(t, '/v1/messages/batch', batch, 'batch-1');
    buffer = null;
    expect(first.statusCode).toBe(202);
    expect(first.json()).toMatchObject({ accepted: 2, rejected: 3 });
    expect(first.json().results.map((r: { error?: { code: string } }) => r.error?.code ?? 'queued')).toEqual([
      'OVERLOADED',
      'VALIDATION_FAILED',
      'queued',
      'OVERLOADED',
      'queued',
    ]);
    await storeBuffered();
    await forgetIdempotencyRecords();

    const again = await post(t, '/v1/messages/batch', batch, 'batch-1');
    expect(again.statusCode).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    await storeBuffered();
    expect(await storedIds(t.id)).toHaveLength(2);
  });

  it('identical requests at once get one id, before and after the loss, and one message is stored', async () => {
    const t = await tenant();
    const burst = () => Promise.all(Array.from({ length: 20 }, () => post(t, '/v1/messages', message(), 'concurrent')));
    const firsts = await burst();
    const ids = new Set(firsts.map((r) => r.json().id));
    expect(ids.size).toBe(1);
    expect(firsts.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(19);
    await storeBuffered();
    await forgetIdempotencyRecords();

    const repeats = await burst();
    expect(repeats.map((r) => r.statusCode)).toEqual(Array(20).fill(202));
    expect(new Set(repeats.map((r) => r.json().id))).toEqual(ids);
    await storeBuffered();
    expect(await storedIds(t.id)).toEqual([...ids]);
  });
});

/** Calls to Redis that touch one key, from any connection or script, seen through MONITOR. */
async function countCommandsOn(key: string, during: () => Promise<unknown>): Promise<number> {
  const monitor = await redis.monitor();
  try {
    let count = 0;
    const sentinel = `sentinel-${randomUUID()}`;
    const seen = new Promise<void>((resolve) =>
      monitor.on('monitor', (_time: string, args: string[]) => {
        if (args.includes(key)) count++;
        if (args.includes(sentinel)) resolve();
      }),
    );
    await during();
    // MONITOR streams what Redis ran in order: once it shows this, it has shown everything before.
    await redis.echo(sentinel);
    await seen;
    return count;
  } finally {
    monitor.disconnect();
  }
}

describe('a request that stalled or died holding its key', () => {
  it('a repeat while its lease lives answers 503 with Retry-After within about a second, in a bounded number of Redis calls', async () => {
    const t = await tenant();
    const content = `stalled ${randomUUID()}`;
    const reached = enqueuer.stall(content, 'before');
    pendingRequests.push(post(t, '/v1/messages', message({ content }), 'live-lease'));
    await reached;

    const started = performance.now();
    let repeat: LightMyRequestResponse | undefined;
    const calls = await countCommandsOn(keys.idempotency(t.id, 'live-lease'), async () => {
      repeat = await post(t, '/v1/messages', message({ content }), 'live-lease');
    });
    const elapsed = performance.now() - started;
    expect(repeat!.statusCode).toBe(503);
    expect(repeat!.json().error.code).toBe('UNAVAILABLE');
    const retryAfter = Number(repeat!.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    // 9 claim scripts over 1 s, each reading the record once: 18 calls (a 5 ms poll for 3 s made ~1,200).
    expect(calls).toBeLessThanOrEqual(20);
    expect(elapsed).toBeLessThan(2_000);
  });

  /** Repeats until the key is answered, each after the Retry-After of the one before: a lease's expiry is a time, no event to wait for. */
  async function repeatUntilAnswered(
    send: () => Promise<LightMyRequestResponse>,
  ): Promise<{ answer: LightMyRequestResponse; waitedMs: number }> {
    const started = performance.now();
    for (;;) {
      const answer = await send();
      if (answer.statusCode !== 503) return { answer, waitedMs: performance.now() - started };
      expect(performance.now() - started).toBeLessThan(20_000);
      await sleep(Number(answer.headers['retry-after']) * 1000);
    }
  }

  it.concurrent(
    'one that died before buffering its message: a repeat takes the key within 10 s and its message is stored once',
    async () => {
      const t = await tenant();
      const content = `died before ${randomUUID()}`;
      const reached = enqueuer.stall(content, 'before');
      pendingRequests.push(post(t, '/v1/messages', message({ content }), 'dead-before'));
      await reached;

      const { answer, waitedMs } = await repeatUntilAnswered(() => post(t, '/v1/messages', message({ content }), 'dead-before'));
      expect(answer.statusCode).toBe(202);
      expect(answer.headers['idempotent-replayed']).toBeUndefined();
      expect(waitedMs).toBeLessThan(12_000);
      await storeBuffered();
      expect(await storedIds(t.id)).toEqual([answer.json().id]);
    },
  );

  // Not concurrent: another test's storeBuffered() would store the message before its job is taken away.
  it('one whose Redis died between its index entry and its job: a repeat after its lease is no replay of a message never buffered, and the entry leaves the depth', async () => {
    const t = await tenant();
    const content = `died indexed ${randomUUID()}`;
    const reached = enqueuer.stall(content, 'indexed');
    pendingRequests.push(post(t, '/v1/messages', message({ content }), 'dead-indexed'));
    await reached;
    const orphan = await bufferDepth(redis, keys);
    expect(orphan).toBeGreaterThan(0);

    const { answer } = await repeatUntilAnswered(() => post(t, '/v1/messages', message({ content }), 'dead-indexed'));
    expect(answer.statusCode).toBe(202);
    expect(answer.headers['idempotent-replayed']).toBeUndefined();
    await storeBuffered();
    expect(await storedIds(t.id)).toEqual([answer.json().id]);
  });

  it.concurrent.each([
    ['still in the buffer', false],
    ['stored by a worker', true],
  ])(
    'one that died after buffering its message (%s): a repeat after its lease gets its id, and nothing new is stored',
    async (_name, storedFirst) => {
      const t = await tenant();
      const content = `died after ${randomUUID()}`;
      const reached = enqueuer.stall(content, 'after');
      pendingRequests.push(post(t, '/v1/messages', message({ content }), 'dead-after'));
      await reached;
      if (storedFirst) await storeBuffered();

      const { answer, waitedMs } = await repeatUntilAnswered(() => post(t, '/v1/messages', message({ content }), 'dead-after'));
      expect(answer.statusCode).toBe(202);
      expect(answer.headers['idempotent-replayed']).toBe('true');
      expect(waitedMs).toBeLessThan(12_000);
      await storeBuffered();
      expect(await storedIds(t.id)).toEqual([answer.json().id]);
    },
  );
});

describe('what a key costs', () => {
  // MEMORY USAGE counts the key (122 bytes under this test's prefix, 99 under "esh3ar"), the
  // value and Redis's own structures: 232 and 16,552 bytes here, 216 and 16,536 under "esh3ar".
  // The JSON records before were 392 and 82,056 bytes under "esh3ar".
  it('Redis: a single message’s record takes at most 256 bytes, a 1,000-message batch’s at most 16,640 (MEMORY USAGE)', async () => {
    const t = await tenant();
    await post(t, '/v1/messages', message(), 'one');
    const batch = { messages: Array.from({ length: 1000 }, (_, i) => message({ content: `message ${i}` })) };
    expect((await post(t, '/v1/messages/batch', batch, 'thousand')).statusCode).toBe(202);
    const single = await redis.memory('USAGE', keys.idempotency(t.id, 'one'), 'SAMPLES', '0');
    const thousand = await redis.memory('USAGE', keys.idempotency(t.id, 'thousand'), 'SAMPLES', '0');
    expect(single).toBeLessThanOrEqual(256);
    expect(thousand).toBeLessThanOrEqual(16_640);
  });

  it('PostgreSQL: nothing for a new key once Redis has held every record for 24 h; one lookup while it may have lost some', async () => {
    const t = await tenant();
    const lookups = () => statements.get('idempotency-messages') ?? 0;
    await redis.set(keys.idempotencySince(t.id), String(Date.now() - 25 * 60 * 60 * 1000));
    const before = lookups();
    expect((await post(t, '/v1/messages', message(), 'steady')).statusCode).toBe(202);
    expect(lookups()).toBe(before);

    await redis.del(keys.idempotencySince(t.id));
    expect((await post(t, '/v1/messages', message(), 'after-a-loss')).statusCode).toBe(202);
    expect(lookups()).toBe(before + 1);
  });
});
