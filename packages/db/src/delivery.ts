import { PRIORITY_BY_RANK, type DeliveryItem } from '@esh3ar/contracts';
import type pg from 'pg';
import { sql } from './sql-files.ts';

interface ReplayRow {
  id: string;
  tenant_id: string;
  recipient: string;
  subject: string | null;
  content: string;
  priority: number;
  metadata: Record<string, string> | null;
  created_at: Date;
  expires_at: Date | null;
}

function toItem(row: ReplayRow): DeliveryItem {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    recipient: row.recipient,
    subject: row.subject,
    content: row.content,
    priority: PRIORITY_BY_RANK[row.priority] ?? 'normal',
    createdAt: row.created_at.toISOString(),
    metadata: row.metadata,
    expiresAt: row.expires_at?.toISOString() ?? null,
  };
}

/**
 * Every unacknowledged, unexpired app message of a phone, highest priority first and
 * oldest first within a priority, in pages of `pageSize` (keyset: no page repeats); only
 * `tenant`'s when given (a connection whose token one tenant's identity provider issued).
 */
export async function* replayMessages(
  pool: pg.Pool,
  phone: string,
  pageSize: number,
  tenant: string | null = null,
): AsyncGenerator<DeliveryItem[]> {
  let after: { priority: number; id: string } | null = null;
  for (;;) {
    const params: unknown[] = [phone, after?.priority ?? null, after?.id ?? null, pageSize, tenant];
    const { rows }: { rows: ReplayRow[] } = await pool.query<ReplayRow>(sql('replay-messages'), params);
    if (rows.length === 0) return;
    yield rows.map(toItem);
    const last = rows.at(-1)!;
    after = { priority: last.priority, id: last.id };
    if (rows.length < pageSize) return;
  }
}

export async function markSent(pool: pg.Pool, ids: readonly string[], detail: string): Promise<void> {
  if (ids.length > 0) await pool.query(sql('mark-sent'), [ids, detail]);
}

export interface Ack {
  id: string;
  recipient: string;
  at: Date;
}

/** Returns the ids this call moved to delivered (a repeated ack is not among them). */
export async function markDelivered(pool: pg.Pool, acks: readonly Ack[]): Promise<string[]> {
  if (acks.length === 0) return [];
  const { rows } = await pool.query<{ message_id: string }>(sql('mark-delivered'), [
    acks.map((a) => a.id),
    acks.map((a) => a.recipient),
    acks.map((a) => a.at.toISOString()),
  ]);
  return rows.map((r) => r.message_id);
}

export async function expireDue(pool: pg.Pool, limit: number): Promise<string[]> {
  const { rows } = await pool.query<{ message_id: string }>(sql('expire-due'), [limit]);
  return rows.map((r) => r.message_id);
}

/** The ids among these that need no more pushing. */
export async function settledMessages(pool: pg.Pool, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await pool.query<{ id: string }>(sql('settled-messages'), [ids]);
  return new Set(rows.map((r) => r.id));
}
