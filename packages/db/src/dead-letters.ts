import { PRIORITY_BY_RANK, type BufferedMessage } from '@esh3ar/contracts';
import type pg from 'pg';
import { sql } from './sql-files.ts';
import { bufferedFromRow, type StoredMessageRow } from './stored-message.ts';

// The dead-letter queue: messages whose retry budget is spent, listed for operators
// (GET /v1/admin/dlq, `esh3ar dlq list`) and replayed as new attempts.

export interface DeadLetter {
  id: string;
  tenantId: string;
  recipient: string;
  channel: string;
  priority: string;
  failureReason: string | null;
  attempts: number;
  movedToDlqAt: string;
  createdAt: string;
}

export interface DlqFilter {
  tenantId?: string | null;
  channel?: string | null;
  error?: string | null;
  since?: string | null;
  until?: string | null;
  /** Only those a replay would replay: not one kept without its tenant or content (dlq-replay.sql). */
  replayableOnly?: boolean;
}

/** Where a page of dead letters ended: the last row's moved_to_dlq_at to the microsecond, and its id. */
export interface DlqCursor {
  at: string;
  id: string;
}

/** A dead letter as listed, with the cursor of a page that ends at it. */
export interface ListedDeadLetter {
  letter: DeadLetter;
  cursor: DlqCursor;
}

/**
 * Dead letters matching `filter`, newest first, after `after`. A cursor's time is the row's
 * to the microsecond (DeadLetter.movedToDlqAt has milliseconds): with the millisecond, the next
 * page skipped the rows sharing that millisecond when the cursor's own row had been
 * replayed and dead-lettered again meanwhile (dlq-list.sql).
 */
export async function pageOfDeadLetters(
  pool: pg.Pool,
  filter: DlqFilter,
  limit: number,
  after: DlqCursor | null,
): Promise<ListedDeadLetter[]> {
  const { rows } = await pool.query<{
    id: string;
    tenant_id: string;
    recipient: string;
    channel: string;
    priority: number;
    failure_reason: string | null;
    attempts: number;
    moved_to_dlq_at: Date;
    cursor_at: string;
    created_at: Date;
  }>(sql('dlq-list'), [
    filter.tenantId ?? null,
    filter.channel ?? null,
    filter.error ?? null,
    filter.since ?? null,
    filter.until ?? null,
    after?.at ?? null,
    after?.id ?? null,
    limit,
    filter.replayableOnly ?? false,
  ]);
  return rows.map((r) => ({
    letter: {
      id: r.id,
      tenantId: r.tenant_id,
      recipient: r.recipient,
      channel: r.channel,
      priority: PRIORITY_BY_RANK[r.priority] ?? 'normal',
      failureReason: r.failure_reason,
      attempts: r.attempts,
      movedToDlqAt: r.moved_to_dlq_at.toISOString(),
      createdAt: r.created_at.toISOString(),
    },
    cursor: { at: r.cursor_at, id: r.id },
  }));
}

export async function listDeadLetters(pool: pg.Pool, filter: DlqFilter, limit: number, after: DlqCursor | null): Promise<DeadLetter[]> {
  return (await pageOfDeadLetters(pool, filter, limit, after)).map((listed) => listed.letter);
}

/**
 * Moves these dead letters back to pending and has `enqueue` send them again, atomically:
 * the move commits only once `enqueue` resolved; if it throws (Redis down half-way), the
 * move is rolled back and every message is still a dead letter. Jobs it managed to add
 * before failing find their message dead-lettered (claimProviderCalls) and send nothing; a
 * job taken while this transaction is open waits for its outcome, since the claim waits for
 * the row. Chosen over a reconciler that would find pending messages without a job: that
 * needs a scan of Redis against PostgreSQL, and sends late, where this needs nothing more.
 * Returns the messages moved (ids neither dead letters nor existing are left out).
 */
export async function replayDeadLetters(
  pool: pg.Pool,
  ids: readonly string[],
  enqueue: (messages: readonly BufferedMessage[]) => Promise<unknown>,
): Promise<BufferedMessage[]> {
  if (ids.length === 0) return [];
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      // The moved rows stay locked, and send jobs taken meanwhile wait on them, until this
      // commits: a replay whose enqueue hangs is ended by the server after 10 s (rolled back)
      // rather than holding them. 10 s is 5x the api's Redis command timeout (2 s, failFast).
      await client.query("SET LOCAL idle_in_transaction_session_timeout = '10s'");
      const { rows } = await client.query<StoredMessageRow>(sql('dlq-replay'), [ids]);
      const messages = rows.map((r) => bufferedFromRow(r, { idempotencyKey: null }));
      if (messages.length > 0) await enqueue(messages);
      await client.query('COMMIT');
      return messages;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError; // a connection that cannot roll back is not reused
      });
      throw error;
    }
  } finally {
    client.release(broken);
  }
}
