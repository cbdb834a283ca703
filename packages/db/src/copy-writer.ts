import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PRIORITY_RANK } from '@esh3ar/contracts';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { COPY_COLUMNS, messageCopyRow } from './copy-encoding.ts';
import { emptyResult, isRowRefusal, joinReasons, park, storeOne, type Prepared, type RowToStore, type StoreResult } from './row-by-row.ts';
import { sql } from './sql-files.ts';
import { unstorableTextReason, withoutDeliveryOptions, withStorableText } from './storable-row.ts';

export { isRowRefusal, type Refusal, type RowToStore, type StoreResult } from './row-by-row.ts';

const COPY_SQL = `COPY message_staging (${COPY_COLUMNS.join(', ')}) FROM STDIN`;
const DIRECT_COPY_SQL = `COPY messages (${COPY_COLUMNS.join(', ')}) FROM STDIN`;

/** A row whose id PostgreSQL already holds: the batch was stored before (a retry), or a row of it was (a queued message canceled). */
const isStoredAlready = (error: unknown) => {
  const e = error as { code?: unknown; constraint?: unknown } | null;
  return e?.code === '23505' && e.constraint === 'messages_pkey';
};
const stagingReady = new WeakSet<pg.PoolClient>();
// PostgreSQL orders uuids byte by byte: as their lowercase text sorts.
const byId = (a: Prepared, b: Prepared) => (a.row.message.id < b.row.message.id ? -1 : a.row.message.id > b.row.message.id ? 1 : 0);

/**
 * Of a batch with duplicates, the rows PostgreSQL already holds in another status than
 * given: pending ones stored otherwise (settled), scheduled ones stored pending (pendingAlready).
 */
async function findSettled(client: pg.PoolClient, prepared: readonly Prepared[], result: StoreResult): Promise<void> {
  if (result.duplicates === 0) return;
  const given = new Map(prepared.map((p) => [p.row.message.id, p.row.state.status]));
  const ids = prepared.filter((p) => p.row.state.status !== 'failed').map((p) => p.row.message.id);
  const { rows } = await client.query<{ id: string; status: string }>(sql('stored-statuses'), [ids]);
  for (const { id, status } of rows) {
    const was = given.get(id);
    if (was === 'pending' && status !== 'pending') result.settled.push(id);
    if (was === 'scheduled' && status === 'pending') result.pendingAlready.push(id);
  }
}
function prepare(given: RowToStore): Prepared {
  const { message, replaced } = withStorableText(given.message);
  if (replaced.length > 0) {
    const refusal = unstorableTextReason(replaced);
    return {
      row: { message, state: { status: 'failed', failureReason: joinReasons(given.state.failureReason, refusal) } },
      refusal,
      line: null,
    };
  }
  if (given.state.status === 'failed') return { row: given, refusal: null, line: null };
  try {
    return { row: given, refusal: null, line: messageCopyRow(given.message, given.state) };
  } catch (error) {
    // The expiry of an unreadable acceptedAt, or of a TTL of millennia, is no JavaScript
    // date: the row is stored as failed without its TTL rather than sinking the batch.
    const { message: withoutTtl, dropped } = withoutDeliveryOptions(given.message);
    const refusal = joinReasons(
      `cannot be encoded: ${(error as Error).message}`,
      dropped.length > 0 ? `stored without ${dropped.join(', ')}` : null,
    );
    return { row: { message: withoutTtl, state: { status: 'failed', failureReason: refusal } }, refusal, line: null };
  }
}

// Rows go to the socket in chunks of ~64 KiB: fewer writes, bounded memory.
function* copyChunks(lines: readonly string[]): Generator<string> {
  let chunk = '';
  for (const line of lines) {
    chunk += line;
    if (chunk.length >= 65_536) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk.length > 0) yield chunk;
}

async function inTransaction<T>(client: pg.PoolClient, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined); // the original error is what matters
    throw error;
  }
}

async function withClient<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    return await work(client);
  } catch (error) {
    broken = error as Error;
    throw error;
  } finally {
    // A connection that failed mid-statement is discarded rather than reused.
    client.release(broken);
  }
}

/**
 * One COPY. pg-copy-streams holds the rows until PostgreSQL answers the statement
 * (CopyInResponse), then writes each chunk as two socket writes (its length, its bytes)
 * and CopyDone as a third. Here those writes go out as one: the socket is corked while
 * pg hands the answer to pg-copy-streams, and uncorked once that has written all it
 * can (a batch larger than the socket's buffer, 16 KiB, sends the rest after it drains,
 * as before). On this VM a socket write that wakes PostgreSQL costs the worker tens of
 * µs of system time: a quarter of its CPU under load went to writes (bench/ingest/cost.ts).
 */
async function copyLines(client: pg.PoolClient, statement: string, lines: readonly string[]): Promise<void> {
  const { connection } = client;
  const coalesce = () => {
    connection.stream.cork();
    process.nextTick(() => connection.stream.uncork());
  };
  // Before pg's own listener, which flushes the held rows synchronously.
  connection.prependOnceListener('copyInResponse', coalesce);
  try {
    await pipeline(Readable.from(copyChunks(lines)), client.query(copyFrom(statement)));
  } finally {
    connection.removeListener('copyInResponse', coalesce);
  }
}

/**
 * The fast path: one COPY straight into messages for the rows stored as given (alone, its
 * own transaction); the rare others one by one, in a transaction with it. A batch none of whose ids is stored yet (all
 * but retries) is written once; one that finds an id already there is rolled back and
 * merged (mergeBatch). PostgreSQL spent ~40% less per row than on the staging table and
 * its merge (bench/ingest/cost.ts).
 */
async function copyBatch(client: pg.PoolClient, prepared: readonly Prepared[]): Promise<StoreResult> {
  // In the merge's order (critical first, then by id): two workers storing overlapping
  // batches (a stalled job run twice) take the rows' locks in one order, never a deadlock.
  const lines = prepared
    .filter((p) => p.line !== null)
    .sort((a, b) => PRIORITY_RANK[b.row.message.priority] - PRIORITY_RANK[a.row.message.priority] || byId(a, b))
    .map((p) => p.line!);
  if (lines.length === 0) return mergeBatch(client, prepared, lines);
  try {
    if (lines.length === prepared.length) {
      // Every row by COPY: one statement is a transaction of its own, all of its rows or
      // none, without the round trips (and socket writes) of BEGIN and COMMIT.
      await copyLines(client, DIRECT_COPY_SQL, lines);
      return { ...emptyResult(), inserted: lines.length };
    }
    return await inTransaction(client, async () => {
      const result = emptyResult();
      await copyLines(client, DIRECT_COPY_SQL, lines);
      result.inserted += lines.length;
      for (const p of prepared) if (p.line === null) await storeOne(client, p, result);
      await findSettled(client, prepared, result);
      return result;
    });
  } catch (error) {
    if (!isStoredAlready(error)) throw error;
    return mergeBatch(client, prepared, lines);
  }
}

/** Exactly once for a batch some of whose rows may be stored: COPY into the connection's staging table, then INSERT … ON CONFLICT (id) DO NOTHING. */
async function mergeBatch(client: pg.PoolClient, prepared: readonly Prepared[], lines: readonly string[]): Promise<StoreResult> {
  const created = !stagingReady.has(client);
  const result = await inTransaction(client, async () => {
    const result = emptyResult();
    if (lines.length > 0) {
      if (created) await client.query(sql('create-staging'));
      await copyLines(client, COPY_SQL, lines);
      const merged = (await client.query(sql('merge-staging'))).rowCount ?? 0;
      result.inserted += merged;
      result.duplicates += lines.length - merged;
    }
    for (const p of prepared) if (p.line === null) await storeOne(client, p, result);
    await findSettled(client, prepared, result);
    return result;
  });
  // Only once committed: a staging table created in a transaction that rolled back is gone.
  if (created && lines.length > 0) stagingReady.add(client);
  return result;
}

/**
 * Stores a batch exactly once: one COPY into messages in one transaction, or, when one of
 * its ids is stored already, COPY into a per-connection staging table and INSERT ... ON
 * CONFLICT (id) DO NOTHING. COPY moves ~115k rows/s here against ~83k for multi-row INSERT. Text PostgreSQL cannot hold
 * (U+0000, lone surrogates) is replaced before, and such a row stored as `failed`. A batch
 * PostgreSQL refuses for its data is retried row by row, and each refused row stored as
 * `failed`, or else as a dead letter: one row never keeps the others from being stored.
 * Connection or server errors propagate: the caller retries the whole batch.
 */
export async function storeBatch(pool: pg.Pool, rows: readonly RowToStore[]): Promise<StoreResult> {
  if (rows.length === 0) return emptyResult();
  const prepared = rows.map(prepare);
  return withClient(pool, async (client) => {
    try {
      return await copyBatch(client, prepared);
    } catch (error) {
      if (!isRowRefusal(error)) throw error;
      return inTransaction(client, async () => {
        const result = emptyResult();
        for (const p of prepared) await storeOne(client, p, result);
        await findSettled(client, prepared, result);
        return result;
      });
    }
  });
}

/**
 * The messages of an ingest job that failed for good, as dead letters (GET /v1/admin/dlq)
 * with the reason; those already stored keep their rows.
 */
export async function parkMessages(pool: pg.Pool, rows: readonly RowToStore[], reason: string): Promise<StoreResult> {
  if (rows.length === 0) return emptyResult();
  return withClient(pool, (client) =>
    inTransaction(client, async () => {
      const result = emptyResult();
      for (const row of rows) await park(client, row.message, joinReasons(row.state.failureReason, reason), result);
      return result;
    }),
  );
}
