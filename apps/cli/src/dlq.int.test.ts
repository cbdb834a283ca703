import { sampleBufferedMessage, sendQueueName } from '@esh3ar/contracts';
import { createPool, storeBatch } from '@esh3ar/db';
import { createDatabase, deletePrefix, freePort, runCli, uniquePrefix, uuidv7, type ThrowawayDatabase } from '@esh3ar/stack';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let db: ThrowawayDatabase;
let pool: pg.Pool;
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('cli-dlq');

/** An sms message stored, then dead-lettered as the send processor does after its last attempt. */
async function deadLetter(): Promise<string> {
  const message = sampleBufferedMessage({ id: uuidv7(), channel: 'sms' });
  await storeBatch(pool, [{ message, state: { status: 'pending', failureReason: null } }]);
  await pool.query("UPDATE messages SET status = 'dead_letter', failure_reason = '503', moved_to_dlq_at = now() WHERE id = $1", [
    message.id,
  ]);
  return message.id;
}

const status = async (id: string) =>
  (await pool.query<{ status: string }>('SELECT status FROM messages WHERE id = $1', [id])).rows[0]!.status;

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'cli-dlq');
  pool = createPool(db.url, { max: 1, applicationName: 'cli-dlq-test' });
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

describe('pnpm esh3ar dlq replay', () => {
  it('with Redis down: exits 1 and the message stays in the DLQ (no pending message without a job)', async () => {
    const id = await deadLetter();
    const r = await runCli(['dlq', 'replay', id], {
      DATABASE_URL: db.url,
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      REDIS_PREFIX: prefix,
    });
    expect(r.code).toBe(1);
    expect(await status(id)).toBe('dead_letter');
  });

  it('moves the message to pending and enqueues its send job, on the same path as the api', async () => {
    const id = await deadLetter();
    const r = await runCli(['dlq', 'replay', id], { DATABASE_URL: db.url, REDIS_URL: redisUrl, REDIS_PREFIX: prefix });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ replayed: 1, ids: [id] });
    expect(await status(id)).toBe('pending');
    const redis = new Redis(redisUrl);
    const queue = new Queue(sendQueueName('sms'), { connection: redis, prefix });
    try {
      const jobs = await queue.getJobs(['waiting', 'prioritized']);
      expect(jobs.map((j) => [j.data.reason, j.data.message.id])).toEqual([['replay', id]]);
    } finally {
      await queue.close();
      redis.disconnect();
    }
  });
});
