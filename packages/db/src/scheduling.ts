import type { BufferedMessage } from '@esh3ar/contracts';
import type pg from 'pg';
import { sql } from './sql-files.ts';
import { bufferedFromRow, type StoredMessageRow } from './stored-message.ts';

interface DueRow extends StoredMessageRow {
  expires_at: Date | null;
  idempotency_key: string | null;
  send_at: Date;
  held_reason: string | null;
  now: Date;
}

/** A scheduled message whose time has come, as its release round took it. */
export interface DueMessage {
  /**
   * As it was buffered, acceptedAt its created_at, and sendAt when it is due to go out (its
   * own sendAt, or the end of the quiet hours that held it): a provider fallback's timer
   * counts from there, as it counts from acceptance for a message sent at once.
   */
  message: BufferedMessage;
  /** Its stored TTL: counted from its own sendAt, so a quiet-hours hold does not lengthen it. */
  expiresAt: string | null;
  /** Why it was held past its own sendAt (quiet hours); null when it was not. */
  heldReason: string | null;
}

/** A due message kept waiting (quiet hours): until when, and why in words. */
export interface Hold {
  until: Date;
  reason: string;
}

export interface ReleaseOptions {
  /** At most this many rows per round (runtime worker.batchSize). */
  limit: number;
  /** The time rows are due by; null: PostgreSQL's now(). */
  at: Date | null;
  /** For each due message, in the order taken: null to release it, or a hold. `now` is the time it was due by. */
  decide: (due: DueMessage, now: Date) => Hold | null;
  /**
   * Runs on the released messages before the round commits: a failure rolls the round back and
   * leaves them scheduled, for the next round (or another worker) to take again.
   */
  dispatch: (released: DueMessage[]) => Promise<void>;
}

export interface ReleaseRound {
  /** The time the round's rows were due by (PostgreSQL's now() unless given). */
  now: Date;
  /** Rows the round took: as many as `limit` means more may be due. */
  taken: number;
  released: DueMessage[];
  held: { id: string; hold: Hold }[];
}

const toDue = (r: DueRow): DueMessage => ({
  message: bufferedFromRow(r, { idempotencyKey: r.idempotency_key, sendAt: r.send_at.toISOString() }),
  expiresAt: r.expires_at?.toISOString() ?? null,
  heldReason: r.held_reason,
});

/** The detail of a released message's `pending` event. */
const releaseDetail = (due: DueMessage) => (due.heldReason === null ? 'released at its sendAt' : 'released at the end of quiet hours');

/**
 * One release round, in one transaction: takes up to `limit` due scheduled messages
 * (sql/schedule-due.sql: critical first, oldest first, rows other workers hold passed over),
 * holds again those `decide` holds, moves the others to pending with a `pending` event each,
 * runs `dispatch` on them, and only then commits. A worker that dies before the commit
 * leaves them scheduled: PostgreSQL rolls the round back, and the next round takes them
 * again. What dispatch did before the rollback finds them not pending: a provider claim
 * (sql/provider-claim.sql, which waits for this transaction's row locks) calls nothing.
 */
export async function releaseDue(pool: pg.Pool, options: ReleaseOptions): Promise<ReleaseRound> {
  const client = await pool.connect();
  // A connection that failed mid-statement, or could not roll back, is discarded rather than reused.
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    // The round's row locks are not held for a Redis outage: dispatch may wait for Redis as
    // long as it is down, and a cancel of one of these messages would wait as long. After
    // 10 s idle in the transaction PostgreSQL ends the session, which rolls the round back.
    await client.query("SET LOCAL idle_in_transaction_session_timeout = '10s'");
    const round = await releaseRound(client, options);
    await client.query('COMMIT');
    return round;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollback: Error) => (broken = rollback)); // the original error is what matters
    throw error;
  } finally {
    client.release(broken);
  }
}

async function releaseRound(client: pg.PoolClient, options: ReleaseOptions): Promise<ReleaseRound> {
  const { rows } = await client.query<DueRow>(sql('schedule-due'), [options.limit, options.at]);
  const round: ReleaseRound = { now: rows[0]?.now ?? options.at ?? new Date(), taken: rows.length, released: [], held: [] };
  for (const row of rows) {
    const due = toDue(row);
    const hold = options.decide(due, row.now);
    if (hold === null) round.released.push(due);
    else round.held.push({ id: row.id, hold });
  }
  if (round.held.length > 0) {
    await client.query(sql('schedule-hold'), [
      round.held.map((h) => h.id),
      round.held.map((h) => h.hold.until.toISOString()),
      round.held.map((h) => h.hold.reason),
    ]);
  }
  if (round.released.length > 0) {
    const { rows: moved } = await client.query<{ message_id: string }>(sql('schedule-release'), [
      round.released.map((d) => d.message.id),
      round.released.map(releaseDetail),
    ]);
    // All of them, as the rows are locked; only what this round moved is dispatched, whatever happens.
    const ids = new Set(moved.map((r) => r.message_id));
    round.released = round.released.filter((d) => ids.has(d.message.id));
    await options.dispatch(round.released);
  }
  return round;
}
