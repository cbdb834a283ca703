import { randomUUID } from 'node:crypto';
import { sampleBufferedMessage, type BufferedMessage } from '@esh3ar/contracts';
import type pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeBatch } from './copy-writer.ts';
import { DlqReplayStopped, replayAllDeadLetters, tallyDeadLetters } from './dead-letter-pages.ts';
import { createPool } from './pool.ts';
import { createDatabase, type ThrowawayDatabase } from './throwaway-database.ts';

// Replays by filter, page by page (POST /v1/admin/dlq/replay with a filter, `esh3ar dlq
// replay --all`), against real PostgreSQL; the enqueue is a recorder, Redis is not the point.

let db: ThrowawayDatabase;
let pool: pg.Pool;

/** `count` messages of one tenant stored, then dead-lettered in one statement (one moved_to_dlq_at, as a job's batch). */
async function deadLetters(tenantId: string, count: number, over: Partial<BufferedMessage> = {}, reason = '503'): Promise<string[]> {
  const messages = Array.from({ length: count }, () => sampleBufferedMessage({ id: uuidv7(), tenantId, channel: 'sms', ...over }));
  await storeBatch(
    pool,
    messages.map((message) => ({ message, state: { status: 'pending', failureReason: null } })),
  );
  const ids = messages.map((m) => m.id);
  await deadLetter(ids, reason);
  return ids;
}

/** As the send processor does after a message's last attempt. */
async function deadLetter(ids: string[], reason = '503'): Promise<void> {
  await pool.query("UPDATE messages SET status = 'dead_letter', failure_reason = $2, moved_to_dlq_at = now() WHERE id = ANY($1)", [
    ids,
    reason,
  ]);
}

async function statusOf(ids: string[]): Promise<Record<string, string>> {
  const { rows } = await pool.query<{ id: string; status: string }>('SELECT id, status FROM messages WHERE id = ANY($1)', [ids]);
  return Object.fromEntries(rows.map((r) => [r.id, r.status]));
}

const all = (ids: string[], status: string) => Object.fromEntries(ids.map((id) => [id, status]));
const sorted = (ids: readonly string[]) => [...ids].sort();
const recorder = () => {
  const enqueued: string[] = [];
  return { enqueued, enqueue: async (messages: readonly BufferedMessage[]) => enqueued.push(...messages.map((m) => m.id)) };
};

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'dead-letter-pages');
  pool = createPool(db.url, { max: 2, applicationName: 'dead-letter-pages-test' });
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('replayAllDeadLetters', () => {
  it('replays every match, a page per transaction, and stops after the short page', async () => {
    const tenantId = randomUUID();
    const ids = [...(await deadLetters(tenantId, 4)), ...(await deadLetters(tenantId, 3))];
    const other = await deadLetters(randomUUID(), 2);
    const { enqueued, enqueue } = recorder();
    const pages: number[] = [];

    const run = await replayAllDeadLetters(
      pool,
      { tenantId },
      {
        pageSize: 3,
        onPage: (n) => {
          pages.push(n);
        },
      },
      enqueue,
    );

    expect(sorted(run.ids)).toEqual(sorted(ids));
    expect(run.more).toBe(false);
    expect(pages).toEqual([3, 3, 1]);
    expect(sorted(enqueued)).toEqual(sorted(ids));
    expect(await statusOf([...ids, ...other])).toEqual({ ...all(ids, 'pending'), ...all(other, 'dead_letter') });
  });

  it('stops at the limit, and says whether matches are left (exactly: none when the limit took the last)', async () => {
    const tenantId = randomUUID();
    const ids = await deadLetters(tenantId, 5);
    const first = await replayAllDeadLetters(pool, { tenantId }, { pageSize: 2, limit: 3 }, recorder().enqueue);
    expect(first).toEqual({ ids: expect.any(Array), more: true });
    expect(first.ids).toHaveLength(3);

    const second = await replayAllDeadLetters(pool, { tenantId }, { pageSize: 10, limit: 2 }, recorder().enqueue);
    expect(second.more).toBe(false);
    expect(sorted([...first.ids, ...second.ids])).toEqual(sorted(ids));
  });

  it('stops where `stop` says, after at least one page, with the rest left for the next run', async () => {
    const tenantId = randomUUID();
    const ids = await deadLetters(tenantId, 5);
    const run = await replayAllDeadLetters(pool, { tenantId }, { pageSize: 2, stop: () => true }, recorder().enqueue);
    expect(run.ids).toHaveLength(2);
    expect(run.more).toBe(true);
    expect(Object.values(await statusOf(ids)).filter((s) => s === 'dead_letter')).toHaveLength(3);
  });

  it('replays no message twice: one dead-lettered during the run, or replayed and failed again, waits for the next run', async () => {
    const tenantId = randomUUID();
    const ids = await deadLetters(tenantId, 6);
    // A message of this tenant still being sent when the run starts.
    const sending = sampleBufferedMessage({ id: uuidv7(), tenantId, channel: 'sms' });
    await storeBatch(pool, [{ message: sending, state: { status: 'pending', failureReason: null } }]);

    const { enqueued, enqueue } = recorder();
    let failedAgain: string | undefined;
    const run = await replayAllDeadLetters(
      pool,
      { tenantId },
      {
        pageSize: 2,
        onPage: async () => {
          if (failedAgain !== undefined) return;
          // The first page committed: one of its messages fails again, and the one being sent
          // fails for good, both before the second page is read.
          failedAgain = enqueued[0]!;
          await deadLetter([failedAgain, sending.id], 'failed during the replay');
        },
      },
      enqueue,
    );

    expect(new Set(run.ids).size).toBe(run.ids.length);
    expect(sorted(run.ids)).toEqual(sorted(ids));
    expect(enqueued.filter((id) => id === failedAgain)).toHaveLength(1);
    expect(enqueued).not.toContain(sending.id);
    expect(await statusOf([failedAgain!, sending.id])).toEqual({ [failedAgain!]: 'dead_letter', [sending.id]: 'dead_letter' });

    // The next run takes them.
    const next = await replayAllDeadLetters(pool, { tenantId }, { pageSize: 2 }, recorder().enqueue);
    expect(sorted(next.ids)).toEqual(sorted([failedAgain!, sending.id]));
  });

  it('a page that fails: the pages before stay replayed, that page and the rest stay dead letters, and the error says how many', async () => {
    const tenantId = randomUUID();
    const ids = await deadLetters(tenantId, 5);
    let calls = 0;
    const failing = async () => {
      calls += 1;
      if (calls === 2) throw new Error('Redis went away');
    };
    const error: unknown = await replayAllDeadLetters(pool, { tenantId }, { pageSize: 2 }, failing).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DlqReplayStopped);
    const replayed = (error as DlqReplayStopped).replayed;
    expect(replayed).toHaveLength(2);
    expect((error as Error).message).toBe('Redis went away (2 dead letters were replayed before this; the others are still in the DLQ)');
    const statuses = await statusOf(ids);
    expect(ids.filter((id) => statuses[id] === 'pending')).toEqual(expect.arrayContaining([...replayed]));
    expect(Object.values(statuses).filter((s) => s === 'dead_letter')).toHaveLength(3);

    // A failure before any page was replayed is the cause itself.
    await expect(replayAllDeadLetters(pool, { tenantId }, { pageSize: 2 }, () => Promise.reject(new Error('no Redis')))).rejects.toThrow(
      /^no Redis$/,
    );
  });

  it('skips the dead letters it would never replay (no content) without counting them against the limit', async () => {
    const tenantId = randomUUID();
    const [empty] = await deadLetters(tenantId, 1);
    await pool.query("UPDATE messages SET content = '' WHERE id = $1", [empty]);
    const ids = await deadLetters(tenantId, 2);
    const run = await replayAllDeadLetters(pool, { tenantId }, { pageSize: 1, limit: 2 }, recorder().enqueue);
    expect(sorted(run.ids)).toEqual(sorted(ids));
    expect(run.more).toBe(false);
    expect(await statusOf([empty!])).toEqual({ [empty!]: 'dead_letter' });
  });
});

describe('tallyDeadLetters', () => {
  it('counts what a replay would replay, per tenant and channel, the largest first; reads only', async () => {
    const a = randomUUID();
    const b = randomUUID();
    const reason = `tally ${randomUUID()}`;
    const aSms = await deadLetters(a, 3, {}, reason);
    await deadLetters(a, 1, { channel: 'whatsapp' }, reason);
    await deadLetters(b, 2, {}, reason);
    await pool.query("UPDATE messages SET content = '' WHERE id = $1", [aSms[0]]);

    expect(await tallyDeadLetters(pool, { error: reason.toUpperCase() })).toEqual({
      total: 5,
      groups: [
        { tenantId: a, channel: 'sms', count: 2 },
        { tenantId: b, channel: 'sms', count: 2 },
        { tenantId: a, channel: 'whatsapp', count: 1 },
      ].sort((x, y) => y.count - x.count || x.tenantId.localeCompare(y.tenantId) || x.channel.localeCompare(y.channel)),
    });
    expect(await tallyDeadLetters(pool, { tenantId: a, channel: 'email' })).toEqual({ total: 0, groups: [] });
  });

  it('takes "%" and "_" in the error text as themselves, not as wildcards', async () => {
    const tenantId = randomUUID();
    await deadLetters(tenantId, 2, {}, 'provider answered 503');
    await deadLetters(tenantId, 1, {}, 'quota at 100%');
    expect((await tallyDeadLetters(pool, { tenantId, error: '%' })).total).toBe(1);
    expect((await tallyDeadLetters(pool, { tenantId, error: '_' })).total).toBe(0);
    expect((await tallyDeadLetters(pool, { tenantId, error: '5_3' })).total).toBe(0);
  });
});
