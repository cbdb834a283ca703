import type { BufferedMessage } from '@esh3ar/contracts';
import type pg from 'pg';
import { messageRowValues } from './copy-encoding.ts';
import { sql } from './sql-files.ts';

/*
 * A sender taking messages back (DELETE /v1/messages/{id}, POST /v1/messages/cancel):
 * scheduled and pending messages that no provider was ever called for become `canceled`,
 * with an event that reaches the tenant's status webhook. The last checks that keep a
 * canceled message from going out are elsewhere: a provider claim refuses anything not
 * pending (sql/provider-claim.sql), and the gateways drop a canceled app message.
 */

/** What cancelling one stored message found. */
export type CancelOutcome =
  /** Not in PostgreSQL for this tenant. */
  | { kind: 'absent' }
  | { kind: 'canceled' }
  /** Left as it was: `status` is where it stands, `why` says so in words. */
  | { kind: 'refused'; status: string; why: string };

interface CancelRow {
  status: string;
  canceled: boolean;
  call_in_progress: boolean | null;
  provider_called: boolean;
}

function refusal(row: CancelRow): string {
  if (row.status === 'canceled') return 'the message is already canceled';
  if (row.status === 'sent' || row.status === 'delivered') return `the message is already ${row.status}`;
  if (row.call_in_progress) return `a provider call of the message is in progress (status ${row.status})`;
  if (row.provider_called) return `a provider was already called for the message and may have it (status ${row.status})`;
  return `the message is ${row.status}, a final status`;
}

/** Cancels a stored message of the tenant (sql/cancel-message.sql). */
export async function cancelStored(pool: pg.Pool, tenantId: string, id: string): Promise<CancelOutcome> {
  const { rows } = await pool.query<CancelRow>(sql('cancel-message'), [id, tenantId]);
  const row = rows[0];
  if (row === undefined) return { kind: 'absent' };
  if (row.canceled) return { kind: 'canceled' };
  return { kind: 'refused', status: row.status, why: refusal(row) };
}

/**
 * Stores a message that is still only in the buffer as `canceled` (sql/cancel-queued.sql).
 * False: a worker stored it first; cancel that row with cancelStored.
 */
export async function cancelQueued(pool: pg.Pool, message: BufferedMessage): Promise<boolean> {
  const values = messageRowValues(message, { status: 'canceled', failureReason: null, sendAt: message.sendAt ?? null });
  const { rowCount } = await pool.query(sql('cancel-queued'), values);
  return rowCount === 1;
}

/** Which stored messages of a tenant a bulk cancel takes; a field left out matches any. */
export interface CancelFilter {
  statuses: readonly ('scheduled' | 'pending')[];
  recipient?: string | undefined;
  /** send_at in [sendAtFrom, sendAtTo): only messages with a send time match these. */
  sendAtFrom?: string | undefined;
  sendAtTo?: string | undefined;
  /** Every pair must be in the message's metadata. */
  metadata?: Record<string, string> | undefined;
}

export interface BulkCancel {
  /** Messages matching the filter: those canceled, and those left because a provider was already called for them. */
  matched: number;
  canceled: number;
}

/** Canceled app messages, by id and phone: what the gateways are told to drop. */
export type CanceledApp = { id: string; recipient: string }[];

/**
 * 5,000 messages a statement, matching or not: each chunk holds its rows' locks until it
 * commits, so a release loop or provider claim waiting on one waits for at most one
 * chunk's work.
 */
const CHUNK = 5_000;
const DEADLOCK = '40P01';

function filterParams(filter: CancelFilter): unknown[] {
  return [
    filter.recipient ?? null,
    filter.sendAtFrom ?? null,
    filter.sendAtTo ?? null,
    filter.metadata === undefined ? null : JSON.stringify(filter.metadata),
  ];
}

/** How many stored messages of the tenant match (sql/cancel-matching-count.sql). */
export async function countMatching(pool: pg.Pool, tenantId: string, filter: CancelFilter): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(sql('cancel-matching-count'), [tenantId, filter.statuses, ...filterParams(filter)]);
  return rows[0]?.n ?? 0;
}

interface ChunkRow {
  last_id: string | null;
  spanned: number;
  canceled: number;
  app: CanceledApp;
}

/** One chunk; retried when PostgreSQL broke a deadlock with a writer locking in another order by aborting it. */
async function cancelChunk(pool: pg.Pool, params: unknown[]): Promise<ChunkRow> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await pool.query<ChunkRow>(sql('cancel-matching'), params)).rows[0]!;
    } catch (error) {
      if ((error as { code?: unknown }).code !== DEADLOCK || attempt === 3) throw error;
    }
  }
}

/**
 * Cancels every stored message of the tenant matching the filter, a span of CHUNK of its
 * messages per statement (each with its events) until none is left (sql/cancel-matching.sql); each
 * chunk's app messages go to `onApp` once committed. Messages stored while it runs are
 * canceled too if they sort after where it stands.
 */
export async function cancelMatching(
  pool: pg.Pool,
  tenantId: string,
  filter: CancelFilter,
  onApp: (canceled: CanceledApp) => Promise<void>,
): Promise<BulkCancel> {
  const result: BulkCancel = { matched: 0, canceled: 0 };
  // Scheduled first, whatever order was asked: a row the release loop holds while the
  // scheduled pass runs is found pending once it commits, by the pending pass after it.
  const statuses = (['scheduled', 'pending'] as const).filter((s) => filter.statuses.includes(s));
  for (const status of statuses) {
    let after: string | null = null;
    for (;;) {
      const chunk = await cancelChunk(pool, [tenantId, status, after, ...filterParams(filter), CHUNK]);
      result.canceled += chunk.canceled;
      if (chunk.app.length > 0) await onApp(chunk.app);
      if (chunk.spanned < CHUNK) break;
      after = chunk.last_id;
    }
  }
  result.matched = result.canceled + (await countMatching(pool, tenantId, filter));
  return result;
}
