import type { BufferedMessage } from '@esh3ar/contracts';
import type pg from 'pg';
import { deadLetterValues, messageRowValues, type RowState } from './copy-encoding.ts';
import { isDataPgError } from './pool.ts';
import { sql } from './sql-files.ts';
import { deadLetterMessage, withoutDeliveryOptions } from './storable-row.ts';

/* What a batch store returns, and the slow path of one: rows stored one by one in savepoints. */

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

export const emptyResult = (): StoreResult => ({
  inserted: 0,
  failed: 0,
  parked: 0,
  duplicates: 0,
  refused: [],
  settled: [],
  pendingAlready: [],
});

export const joinReasons = (...parts: (string | null)[]) => parts.filter((p) => p !== null && p !== '').join('; ');

/** A row as it is first tried: its text made storable and, if that changed it, `failed` with the reason. */
export interface Prepared {
  row: RowToStore;
  /** Why it is not stored as given; null: so far it is. */
  refusal: string | null;
  /** Its COPY line, for pending and scheduled rows stored as given; the others (rare) are inserted one by one, counted exactly. */
  line: string | null;
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
export async function park(client: pg.PoolClient, m: BufferedMessage, why: string, result: StoreResult): Promise<void> {
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
export async function storeOne(client: pg.PoolClient, p: Prepared, result: StoreResult): Promise<void> {
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
