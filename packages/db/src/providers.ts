import { PRIORITY_BY_RANK, type BufferedMessage } from '@esh3ar/contracts';
import type pg from 'pg';
import { sql } from './sql-files.ts';

export type ProviderOutcome = 'sent' | 'failed' | 'dead_letter';

/** Counts an attempt that leaves the message pending; returns the attempts used since the last replay (null: not pending). */
export async function recordProviderAttempt(pool: pg.Pool, id: string, detail: string, from: readonly string[]): Promise<number | null> {
  const { rows } = await pool.query<{ used: number }>(sql('provider-attempt'), [id, detail, from]);
  return rows[0]?.used ?? null;
}

/** Ends a pending message; false when it was no longer pending (nothing changed). */
export async function recordProviderOutcome(
  pool: pg.Pool,
  id: string,
  outcome: ProviderOutcome,
  details: { providerMessageId?: string; reason?: string; detail: string; countAttempt?: boolean },
  from: readonly string[],
): Promise<boolean> {
  const { rowCount } = await pool.query(sql('provider-outcome'), [
    id,
    outcome,
    details.providerMessageId ?? null,
    details.reason ?? null,
    details.detail,
    from,
    details.countAttempt === false ? 0 : 1,
  ]);
  return rowCount === 1;
}

export async function recordProviderWaiting(pool: pg.Pool, id: string, detail: string): Promise<void> {
  await pool.query(sql('provider-waiting'), [id, detail]);
}

export async function sendState(pool: pg.Pool, id: string): Promise<{ status: string; providerMessageId: string | null; channel: string; expired: boolean } | null> {
  const { rows } = await pool.query<{ status: string; provider_message_id: string | null; channel: string; expired: boolean }>(sql('send-state'), [id]);
  const row = rows[0];
  return row ? { status: row.status, providerMessageId: row.provider_message_id, channel: row.channel, expired: row.expired } : null;
}

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
}

export async function listDeadLetters(pool: pg.Pool, filter: DlqFilter, limit: number, after: { at: string; id: string } | null): Promise<DeadLetter[]> {
  const { rows } = await pool.query<{
    id: string;
    tenant_id: string;
    recipient: string;
    channel: string;
    priority: number;
    failure_reason: string | null;
    attempts: number;
    moved_to_dlq_at: Date;
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
  ]);
  return rows.map((r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    recipient: r.recipient,
    channel: r.channel,
    priority: PRIORITY_BY_RANK[r.priority] ?? 'normal',
    failureReason: r.failure_reason,
    attempts: r.attempts,
    movedToDlqAt: r.moved_to_dlq_at.toISOString(),
    createdAt: r.created_at.toISOString(),
  }));
}

/** Moves these dead letters back to pending; returns them as buffered messages to send again. */
export async function replayDeadLetters(pool: pg.Pool, ids: readonly string[]): Promise<BufferedMessage[]> {
  if (ids.length === 0) return [];
  const { rows } = await pool.query<{
    id: string;
    tenant_id: string;
    recipient: string;
    channel: BufferedMessage['channel'];
    priority: number;
    subject: string | null;
    content: string;
    metadata: Record<string, string> | null;
    created_at: Date;
    ttl_seconds: number | null;
  }>(sql('dlq-replay'), [ids]);
  return rows.map((r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    acceptedAt: r.created_at.toISOString(),
    recipient: r.recipient,
    channel: r.channel,
    priority: PRIORITY_BY_RANK[r.priority] ?? 'normal',
    subject: r.subject,
    content: r.content,
    metadata: r.metadata,
    ttlSeconds: r.ttl_seconds,
    fallback: null,
    fallbackAfterSeconds: null,
    idempotencyKey: null,
  }));
}
