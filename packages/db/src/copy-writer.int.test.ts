import { randomUUID } from 'node:crypto';
import { sampleBufferedMessage, type BufferedMessage } from '@esh3ar/contracts';
import fc from 'fast-check';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeBatch, type RowToStore } from './copy-writer.ts';
import { createPool } from './pool.ts';
import { createDatabase, type ThrowawayDatabase } from './throwaway-database.ts';

let pool: pg.Pool;
let db: ThrowawayDatabase;
const tenantId = randomUUID();

function row(over: Partial<BufferedMessage> = {}): RowToStore {
  return {
    message: sampleBufferedMessage({ id: uuidv7(), tenantId, ...over }),
    state: { status: 'pending', failureReason: null },
  };
}

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'copy-writer');
  pool = createPool(db.url, { max: 2, applicationName: 'copy-writer-test' });
  // The teardown drops the database WITH (FORCE): a connection still closing then is
  // terminated by the server, which must not surface as an uncaught error.
  pool.on('error', () => undefined);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('storeBatch', () => {
  it('stores a batch once however often it is processed, even duplicated within itself', async () => {
    const rows = Array.from({ length: 500 }, (_, i) =>
      row({ content: `m${i}`, priority: (['low', 'normal', 'high', 'critical'] as const)[i % 4] }),
    );
    const first = await storeBatch(pool, rows);
    expect(first).toEqual({ inserted: 500, failed: 0, parked: 0, duplicates: 0, refused: [], settled: [], pendingAlready: [] });
    const again = await storeBatch(pool, rows);
    expect(again).toEqual({ inserted: 0, failed: 0, parked: 0, duplicates: 500, refused: [], settled: [], pendingAlready: [] });
    const overlapping = [...rows.slice(0, 10), row(), row(), ...rows.slice(0, 10)];
    expect(await storeBatch(pool, overlapping)).toEqual({
      inserted: 2,
      failed: 0,
      parked: 0,
      duplicates: 20,
      refused: [],
      settled: [],
      pendingAlready: [],
    });
    const { rows: counts } = await pool.query<{ n: string; d: string }>('SELECT count(*) AS n, count(DISTINCT id) AS d FROM messages');
    expect(counts[0]).toEqual({ n: '502', d: '502' });
  });

  it('a retried batch is dispatched as PostgreSQL holds it: pending stored as scheduled is settled, scheduled stored as pending is pending already', async () => {
    const [a, b, c] = [row(), row(), row()];
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = (r: RowToStore): RowToStore => ({
      message: r.message,
      state: { status: 'scheduled', failureReason: null, sendAt: later },
    });
    await storeBatch(pool, [a, scheduled(b)]);
    // The retry decides otherwise for both (quiet hours began, or ended, between the tries); c is new.
    const again = await storeBatch(pool, [scheduled(a), b, c]);
    expect(again).toMatchObject({ inserted: 1, duplicates: 2, settled: [b.message.id], pendingAlready: [a.message.id] });
  });

  it('property: any text without U+0000 survives COPY byte-exact', async () => {
    const text = fc.string({ unit: 'binary', maxLength: 500 }).filter((s) => !s.includes('\u0000'));
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            text,
            fc.option(text, { nil: null }),
            fc.dictionary(
              fc.string({ maxLength: 10 }).filter((s) => !s.includes('\u0000')),
              text,
              { maxKeys: 3 },
            ),
          ),
          { minLength: 1, maxLength: 30 },
        ),
        async (items) => {
          const rows = items.map(([content, subject, metadata]) => row({ content, subject, metadata }));
          await storeBatch(pool, rows);
          const { rows: stored } = await pool.query<{ id: string; content: string; subject: string | null; metadata: unknown }>(
            'SELECT id, content, subject, metadata FROM messages WHERE id = ANY($1)',
            [rows.map((r) => r.message.id)],
          );
          const byId = new Map(stored.map((s) => [s.id, s]));
          for (const r of rows) {
            expect(byId.get(r.message.id)).toEqual({
              id: r.message.id,
              content: r.message.content,
              subject: r.message.subject,
              metadata: r.message.metadata,
            });
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('stores a row PostgreSQL refuses as failed, with the reason, and the rest of its batch normally', async () => {
    // A TTL whose expiry lies beyond timestamptz's range is refused by the database.
    const bad = row({ ttlSeconds: 2_000_000_000_000, content: 'bad' });
    const good = [row({ content: 'good 1' }), row({ content: 'good 2' })];
    const result = await storeBatch(pool, [good[0]!, bad, good[1]!]);
    expect(result).toMatchObject({ inserted: 3, failed: 1, parked: 0 });
    expect(result.refused).toEqual([{ id: bad.message.id, as: 'failed', reason: expect.stringContaining('refused by the database') }]);
    const { rows } = await pool.query<{ id: string; status: string; failure_reason: string | null }>(
      'SELECT id, status, failure_reason FROM messages WHERE id = ANY($1)',
      [[bad.message.id, ...good.map((g) => g.message.id)]],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(bad.message.id)).toMatchObject({ status: 'failed', failure_reason: expect.stringContaining('refused') });
    for (const g of good) expect(byId.get(g.message.id)).toMatchObject({ status: 'pending', failure_reason: null });
  });

  it('rejects (for the caller to retry) when PostgreSQL cannot be reached', async () => {
    const unreachable = createPool('postgres://127.0.0.1:1/none', { max: 1, applicationName: 'unreachable' });
    await expect(storeBatch(unreachable, [row()])).rejects.toThrow();
    await unreachable.end();
  });
});

describe('storeBatch on the wire', () => {
  it('sends a batch of new rows in two socket writes: the COPY statement, then its rows with CopyDone', async () => {
    const single = createPool(db.url, { max: 1, applicationName: 'copy-writer-writes' });
    try {
      const client = await single.connect();
      const socket = client.connection.stream as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
      client.release();
      // What reaches the kernel: one _write or _writev call is one system call.
      let writes = 0;
      for (const method of ['_write', '_writev'] as const) {
        const original = socket[method].bind(socket);
        socket[method] = (...args: unknown[]) => {
          writes++;
          original(...args);
        };
      }
      const rows = Array.from({ length: 20 }, (_, i) => row({ content: `w${i}` }));
      expect((await storeBatch(single, rows)).inserted).toBe(20);
      expect(writes).toBe(2);
    } finally {
      await single.end();
    }
  });
});
