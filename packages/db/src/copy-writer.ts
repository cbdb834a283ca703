import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BufferedMessage } from '@esh3ar/contracts';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { COPY_COLUMNS, deadLetterValues, messageCopyRow, messageRowValues, type RowState } from './copy-encoding.ts';
import { isDataPgError } from './pool.ts';
import { sql } from './sql-files.ts';
import { deadLetterMessage, unstorableTextReason, withoutDeliveryOptions, withStorableText } from './storable-row.ts';

export interface RowToStore {
  message: BufferedMessage;
  state: RowState;
}

export interface Refusal {
  id: string;
  /** What the row is stored as instead of as given. */
  as: 'failed' | 'dead_letter';
  reason: string;
}

export interface StoreResult {
  /** Rows this call inserted, however stored. */
  inserted: number;
  /** Of `inserted`: rows stored as `failed` (given so, or refused as given), and as dead letters. */
  failed: number;
  parked: number;
  /** Rows already present (a retried or duplicated batch). */
  duplicates: number;
  /** Rows this call could not store as given (text PostgreSQL cannot hold, or refused by it), with what they became and why. */
  refused: Refusal[];
  /**
   * Rows given as pending that were already stored and are no longer pending (canceled by
   * their sender while queued, or stored as scheduled by an earlier try of this batch): not
   * to be dispatched. Looked up only when the batch had duplicates.
   */
  settled: string[];
  /**
   * The converse: rows given as scheduled that an earlier try of this batch stored as
   * pending (quiet hours began between the tries). The stored row decides: they are dispatched.
   */
  pendingAlready: string[];
}

/**
 * PostgreSQL refused a row for what it holds: SQLSTATE class 22 (data exception), 23
 * (integrity), or 54000 (a value over a size limit, such as a recipient too long for its
 * index). Retrying the row as it is cannot help; the writer stores it another way.
 */
export function isRowRefusal(error: unknown): boolean {
  return isDataPgError(error) || (error as { code?: unknown } | null)?.code === '54000';
}

const COPY_SQL = `COPY message_staging (${COPY_COLUMNS.join(', ')}) FROM STDIN`;
const stagingReady = new WeakSet<pg.PoolClient>();

const emptyResult = (): StoreResult => ({ inserted: 0, failed: 0, parked: 0, duplicates: 0, refused: [], settled: [], pendingAlready: [] });

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
const joinReasons = (...parts: (string | null)[]) => parts.filter((p) => p !== null && p !== '').join('; ');

/** A row as it is first tried: its text made storable and, if that changed it, `failed` with the reason. */
interface Prepared {
  row: RowToStore;
  /** Why it is not stored as given; null: so far it is. */
  refusal: string | null;
  /** Its COPY line, for pending and scheduled rows stored as given; the others (rare) are inserted one by one, counted exactly. */
  line: string | null;
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

/** One statement in its own savepoint: a refusal is returned (the transaction goes on), any other error thrown. */
async function tryInsert(client: pg.PoolClient, name: string, values: unknown[]): Promise<'inserted' | 'duplicate' | Error> {
  await client.query('SAVEPOINT row');
  try {
    const r = await client.query(sql(name), values);
    await client.query('RELEASE SAVEPOINT row');
    return r.rowCount === 1 ? 'inserted' : 'duplicate';
  } catch (error) {
    if (!isRowRefusal(error)) throw error;
    await client.query('ROLLBACK TO SAVEPOINT row');
    return error as Error;
  }
}

function count(
  result: StoreResult,
  id: string,
  outcome: 'inserted' | 'duplicate',
  as: RowState['status'] | 'dead_letter',
  refusal: string | null,
): void {
  if (outcome === 'duplicate') result.duplicates++;
  else {
    result.inserted++;
    if (as === 'failed') result.failed++;
    if (as === 'dead_letter') result.parked++;
  }
  if (refusal !== null && (as === 'failed' || as === 'dead_letter')) result.refused.push({ id, as, reason: refusal });
}

/**
 * A dead letter, for operators: first with everything storable kept, then, if PostgreSQL
 * refuses that too, with only what the DLQ listing shows. A refusal of that propagates.
 */
async function park(client: pg.PoolClient, m: BufferedMessage, why: string, result: StoreResult): Promise<void> {
  let reasons = why;
  for (const minimal of [false, true]) {
    const { message, notes } = deadLetterMessage(m, minimal);
    const reason = joinReasons(reasons, 'kept as a dead letter', ...notes);
    const outcome = await tryInsert(client, 'park-message', deadLetterValues(message, reason));
    if (!(outcome instanceof Error)) return count(result, m.id, outcome, 'dead_letter', reason);
    if (minimal) throw outcome;
    reasons = joinReasons(reasons, `refused again: ${outcome.message}`);
  }
}

/**
 * One row, in savepoints, each step giving up what PostgreSQL may have refused in the one
 * before: as prepared; as `failed` without delivery options; as a dead letter.
 */
async function storeOne(client: pg.PoolClient, p: Prepared, result: StoreResult): Promise<void> {
  const { row } = p;
  const first = await tryInsert(client, 'insert-message', messageRowValues(row.message, row.state));
  if (!(first instanceof Error)) return count(result, row.message.id, first, row.state.status, p.refusal);
  let why = joinReasons(row.state.failureReason, `refused by the database: ${first.message}`);
  const { message, dropped } = withoutDeliveryOptions(row.message);
  // As failed, unless that is what was just refused.
  if (dropped.length > 0 || row.state.status !== 'failed') {
    const reason = joinReasons(why, dropped.length > 0 ? `stored without ${dropped.join(', ')}` : null);
    const outcome = await tryInsert(client, 'insert-message', messageRowValues(message, { status: 'failed', failureReason: reason }));
    if (!(outcome instanceof Error)) return count(result, row.message.id, outcome, 'failed', reason);
    why = joinReasons(why, `refused again: ${outcome.message}`);
  }
  await park(client, row.message, why, result);
}

/** The fast path: one COPY for the pending rows stored as given; the rare others one by one, in the same transaction. */
async function copyBatch(client: pg.PoolClient, prepared: readonly Prepared[]): Promise<StoreResult> {
  const lines = prepared.flatMap((p) => (p.line === null ? [] : [p.line]));
  const created = !stagingReady.has(client);
  const result = await inTransaction(client, async () => {
    const result = emptyResult();
    if (lines.length > 0) {
      if (created) await client.query(sql('create-staging'));
      await pipeline(Readable.from(copyChunks(lines)), client.query(copyFrom(COPY_SQL)));
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
 * Stores a batch exactly once: COPY into a per-connection staging table, then
 * INSERT ... ON CONFLICT (id) DO NOTHING, in one transaction. COPY moves ~115k rows/s
 * here against ~83k for multi-row INSERT (MEASURED.md). Text PostgreSQL cannot hold
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
