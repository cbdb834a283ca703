import { randomUUID } from 'node:crypto';
import { PROVIDER_CHANNELS, sampleBufferedMessage, sendQueueName, type BufferedMessage } from '@esh3ar/contracts';
import { createPool, storeBatch } from '@esh3ar/db';
import { createDatabase, deletePrefix, freePort, runCli, uniquePrefix, uuidv7, type ThrowawayDatabase } from '@esh3ar/stack';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { esh3arInProcess } from './cli.test-kit.ts';

let db: ThrowawayDatabase;
let pool: pg.Pool;
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('cli-dlq');
const env = () => ({ DATABASE_URL: db.url, REDIS_URL: redisUrl, REDIS_PREFIX: prefix });

/**
 * `count` messages stored, then dead-lettered in one statement, as the send processor does
 * with a job's batch after its last attempt: they share one moved_to_dlq_at, to the microsecond.
 */
async function deadLetters(count: number, over: Partial<BufferedMessage> = {}, reason = '503'): Promise<string[]> {
  const messages = Array.from({ length: count }, () => sampleBufferedMessage({ id: uuidv7(), channel: 'sms', ...over }));
  await storeBatch(
    pool,
    messages.map((message) => ({ message, state: { status: 'pending', failureReason: null } })),
  );
  const ids = messages.map((m) => m.id);
  await pool.query("UPDATE messages SET status = 'dead_letter', failure_reason = $2, moved_to_dlq_at = now() WHERE id = ANY($1)", [
    ids,
    reason,
  ]);
  return ids;
}

async function statuses(ids: string[]): Promise<string[]> {
  const { rows } = await pool.query<{ status: string }>('SELECT status FROM messages WHERE id = ANY($1)', [ids]);
  return rows.map((r) => r.status);
}

/** [reason, message id] of every send job waiting in Redis, over all channels. */
async function sendJobs(): Promise<[string, string][]> {
  const redis = new Redis(redisUrl);
  const queues = PROVIDER_CHANNELS.map((channel) => new Queue(sendQueueName(channel), { connection: redis, prefix }));
  try {
    const jobs = (await Promise.all(queues.map((q) => q.getJobs(['waiting', 'prioritized'])))).flat();
    return jobs.flatMap((j) => (j.data.messages as { id: string }[]).map((m): [string, string] => [j.data.reason as string, m.id]));
  } finally {
    await Promise.all(queues.map((q) => q.close()));
    redis.disconnect();
  }
}

const sorted = (ids: string[]) => [...ids].sort();

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'cli-dlq');
  pool = createPool(db.url, { max: 1, applicationName: 'cli-dlq-test' });
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

describe('pnpm esh3ar dlq replay ID...', () => {
  it('with Redis down: exits 1 and the message stays in the DLQ (no pending message without a job)', async () => {
    const [id] = await deadLetters(1);
    const r = await runCli(['dlq', 'replay', id!], { ...env(), REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^esh3ar: /);
    expect(await statuses([id!])).toEqual(['dead_letter']);
  });

  it('moves the message to pending and enqueues its send job, on the same path as the api', async () => {
    const [id] = await deadLetters(1);
    const r = await runCli(['dlq', 'replay', id!], env());
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ replayed: 1, ids: [id] });
    expect(await statuses([id!])).toEqual(['pending']);
    expect(await sendJobs()).toEqual([['replay', id]]);
  });

  it('with REDIS_WAIT_REPLICAS 1 on a Redis without a replica: exits 1, naming the replicas, and the message stays in the DLQ', async () => {
    const [id] = await deadLetters(1);
    const r = await runCli(['dlq', 'replay', id!], { ...env(), REDIS_WAIT_REPLICAS: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^esh3ar: .*0 of 1 Redis replicas acknowledged/m);
    expect(await statuses([id!])).toEqual(['dead_letter']);
    // The job Redis took before its WAIT fell short finds its message dead-lettered and sends
    // nothing (dlq-replay.int.test.ts); removed here, so that the jobs below are all there is.
    const redis = new Redis(redisUrl);
    const queue = new Queue(sendQueueName('sms'), { connection: redis, prefix });
    try {
      const orphans = (await queue.getJobs(['waiting', 'prioritized'])).filter((j) =>
        (j.data.messages as { id: string }[]).some((m) => m.id === id),
      );
      expect(orphans).toHaveLength(1);
      await Promise.all(orphans.map((j) => j.remove()));
    } finally {
      await queue.close();
      redis.disconnect();
    }
  });
});

describe('pnpm esh3ar dlq replay --all', () => {
  // Told apart from the dead letters above by their failure reason (--error).
  const REASON = 'provider answered 503 (all)';
  const tenantA = randomUUID();
  const tenantB = randomUUID();
  let aSms: string[];
  let aWhatsapp: string[];
  let bSms: string[];

  beforeAll(async () => {
    aSms = await deadLetters(5, { tenantId: tenantA }, REASON);
    aWhatsapp = await deadLetters(1, { tenantId: tenantA, channel: 'whatsapp' }, REASON);
    bSms = await deadLetters(2, { tenantId: tenantB }, REASON);
  });

  it('--dry-run counts the matches per tenant and channel, past --page-size, and changes nothing', async () => {
    const jobsBefore = await sendJobs();
    const r = await esh3arInProcess(['dlq', 'replay', '--all', '--tenant', tenantA, '--dry-run', '--page-size', '2'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      dryRun: true,
      wouldReplay: 6,
      groups: [
        { tenantId: tenantA, channel: 'sms', count: 5 },
        { tenantId: tenantA, channel: 'whatsapp', count: 1 },
      ],
    });

    const table = await esh3arInProcess(['dlq', 'replay', '--all', '--error', '(ALL)', '--dry-run', '--page-size', '3'], env(), {
      stdout: true,
    });
    expect(table.stdout.split('\n')).toEqual([
      expect.stringMatching(/^TENANT +CHANNEL +DEAD LETTERS$/),
      expect.stringMatching(new RegExp(`^${tenantA} +sms +5$`)),
      expect.stringMatching(new RegExp(`^${tenantB} +sms +2$`)),
      expect.stringMatching(new RegExp(`^${tenantA} +whatsapp +1$`)),
      '8 dead letters would be replayed (dry run: nothing changed).',
      '',
    ]);

    expect(new Set(await statuses([...aSms, ...aWhatsapp, ...bSms]))).toEqual(new Set(['dead_letter']));
    expect(await sendJobs()).toEqual(jobsBefore);
  });

  it('replays every match, a page per transaction past --page-size, with a progress bar on the terminal’s stderr', async () => {
    const jobsBefore = await sendJobs();
    const r = await esh3arInProcess(['dlq', 'replay', '--all', '--tenant', tenantA, '--page-size', '2'], env(), {
      stdout: true,
      stderr: true,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('Replayed 6 dead letters.\n');
    expect(r.stderr).toContain('replaying [');
    expect(r.stderr).toContain('6/6 100%');

    expect(new Set(await statuses([...aSms, ...aWhatsapp]))).toEqual(new Set(['pending']));
    expect(await statuses(bSms)).toEqual(['dead_letter', 'dead_letter']);
    const added = (await sendJobs()).filter((job) => !jobsBefore.some(([, id]) => id === job[1]));
    expect(added.every(([reason]) => reason === 'replay')).toBe(true);
    expect(sorted(added.map(([, id]) => id))).toEqual(sorted([...aSms, ...aWhatsapp]));
  });

  it('piped: {"replayed", "ids"} as JSON, and no bar on a stderr that is no terminal', async () => {
    const r = await esh3arInProcess(['dlq', 'replay', '--all', '--error', '(all)', '--channel', 'sms', '--page-size', '1'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { replayed: number; ids: string[] };
    expect(out.replayed).toBe(2);
    expect(sorted(out.ids)).toEqual(sorted(bSms));
    expect(await statuses(bSms)).toEqual(['pending', 'pending']);
    expect(JSON.parse((await esh3arInProcess(['dlq', 'replay', '--all', '--error', '(all)'], env())).stdout)).toEqual({
      replayed: 0,
      ids: [],
    });
  });

  it('list: a table on a terminal', async () => {
    const [id] = await deadLetters(1, { tenantId: tenantB, channel: 'whatsapp' }, 'bad\u001b[2J number');
    const r = await esh3arInProcess(['dlq', 'list', '--tenant', tenantB], env(), { stdout: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      expect.stringMatching(/^ID +TENANT +CHANNEL +PRIORITY +ATTEMPTS +ERROR +DEAD-LETTERED$/),
      expect.stringMatching(new RegExp(`^${id} +${tenantB} +whatsapp +normal +\\d+ +bad \\[2J number +\\d{4}-`)),
      '',
    ]);
  });
});
