import { sampleBufferedMessage } from '@esh3ar/contracts';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { storeBatch } from './copy-writer.ts';
import { expireDue } from './delivery.ts';
import { createPool } from './pool.ts';
import { createDatabase, type ThrowawayDatabase } from './throwaway-database.ts';

let db: ThrowawayDatabase;

const seen: { statement: string; seconds: number; failed: boolean }[] = [];
let pool: pg.Pool;

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'statement-timing');
  pool = createPool(db.url, {
    max: 2,
    applicationName: 'esh3ar-statement-timing-test',
    onStatement: (statement, seconds, failed) => seen.push({ statement, seconds, failed }),
  });
  // The teardown drops the database WITH (FORCE): a connection still closing then is
  // terminated by the server, which must not surface as an uncaught error.
  pool.on('error', () => undefined);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});
beforeEach(() => {
  seen.length = 0;
});

describe('statement timing (createPool onStatement)', () => {
  it('names a statement from sql/*.sql by its file, and an inline one by its verb', async () => {
    await expireDue(pool, 10);
    await pool.query('SELECT 1');
    await pool.query('  with x as (select 1) select * from x');
    expect(seen.map((s) => s.statement)).toEqual(['expire-due', 'select', 'with']);
    expect(seen.every((s) => !s.failed && s.seconds > 0 && s.seconds < 5)).toBe(true);
  });

  it('measures the time PostgreSQL takes', async () => {
    await pool.query('SELECT pg_sleep(0.2)');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.seconds).toBeGreaterThanOrEqual(0.2);
  });

  it('reports a refused statement as failed, and the caller still gets the error', async () => {
    await expect(pool.query('SELECT * FROM no_such_table')).rejects.toThrow(/no_such_table/);
    await expect(pool.query('VACUUM no_such_table')).rejects.toThrow(/no_such_table/);
    expect(seen).toMatchObject([
      { statement: 'select', failed: true },
      { statement: 'other', failed: true },
    ]);
  });

  it('times a checked-out client’s statements in a transaction and passes COPY through untouched', async () => {
    // The second row holds a NUL: stored one by one, in a transaction with the COPY of the first.
    const rows = [sampleBufferedMessage({ id: uuidv7() }), sampleBufferedMessage({ id: uuidv7(), content: 'a\u0000b' })];
    const result = await storeBatch(
      pool,
      rows.map((message) => ({ message, state: { status: 'pending' as const, failureReason: null } })),
    );
    expect(result.inserted).toBe(2);
    // COPY itself is a stream (its own histogram, esh3ar_persist_copy_duration_seconds): not among them.
    expect(seen.map((s) => s.statement)).toEqual(expect.arrayContaining(['begin', 'insert-message', 'commit']));
    expect(seen.map((s) => s.statement)).not.toContain('copy');
    const client = await pool.connect();
    try {
      await client.query({ text: 'SELECT $1::int AS n', values: [7] });
      await new Promise<void>((resolve, reject) => client.query('SELECT 2', (error) => (error ? reject(error) : resolve())));
    } finally {
      client.release();
    }
    expect(seen.slice(-2).map((s) => s.statement)).toEqual(['select', 'select']);
  });
});
