import { PRIORITY_BY_RANK, type ValidMessage } from '@esh3ar/contracts';
import type pg from 'pg';
import { sql } from './sql-files.ts';
import type { StoredMessageRow } from './stored-message.ts';

/** A message stored under an Idempotency-Key: its id, when it was accepted, and what was asked. */
export interface KeyedMessage {
  id: string;
  acceptedAt: string;
  message: ValidMessage;
}

/** The stored columns a repeat is compared with; `fallback` holds what validation let through. */
type KeyedRow = Omit<StoredMessageRow, 'tenant_id' | 'fallback'> & { fallback: ValidMessage['fallback'] };

/**
 * The messages the first request with `key` stored within the last `withinSeconds`, in
 * the order of its entries (sql/idempotency-messages.sql); none when no such request was stored.
 */
export async function messagesByIdempotencyKey(
  pool: pg.Pool,
  tenantId: string,
  key: string,
  withinSeconds: number,
  limit: number,
): Promise<KeyedMessage[]> {
  const { rows } = await pool.query<KeyedRow>(sql('idempotency-messages'), [tenantId, key, withinSeconds, limit]);
  return rows.map((row) => ({
    id: row.id,
    acceptedAt: row.created_at.toISOString(),
    message: {
      recipient: row.recipient,
      content: row.content,
      subject: row.subject,
      priority: PRIORITY_BY_RANK[row.priority] ?? 'normal',
      channel: row.channel,
      ttlSeconds: row.ttl_seconds,
      fallback: row.fallback,
      fallbackAfterSeconds: row.fallback_after_seconds,
      metadata: row.metadata,
      // Not read back: the row's send_at is when it goes out, which quiet hours may have
      // moved, and a repeat's sendAt once past reads as null; the comparison of a repeat
      // with its stored rows (apps/api/src/idempotency-stored.ts) leaves it out.
      sendAt: null,
    },
  }));
}

/** Whether any of these messages of the tenant is stored (sql/idempotency-stored.sql). */
export async function anyMessageStored(pool: pg.Pool, tenantId: string, ids: readonly string[]): Promise<boolean> {
  const { rows } = await pool.query<{ stored: boolean }>(sql('idempotency-stored'), [tenantId, ids]);
  return rows[0]?.stored === true;
}
