/**
 * The api_key_events log (migration 0008): written by the statements that revoke a key or
 * disable or enable a tenant (sql/api-key-revoke.sql, sql/tenant-set-disabled.sql), read
 * by every api process to drop what it cached about those keys.
 */
import type pg from 'pg';
import { sql } from './sql-files.ts';

/** One change to who may authenticate: key `keyId` revoked, or (keyId null) tenant disabled or enabled. */
export interface KeyEvent {
  /** Gap-free, in commit order (migration 0008). */
  seq: number;
  tenantId: string;
  keyId: string | null;
}

export interface KeyEventRow {
  seq: string;
  tenant_id: string;
  key_id: string | null;
}
export const toKeyEvent = (r: KeyEventRow): KeyEvent => ({ seq: Number(r.seq), tenantId: r.tenant_id, keyId: r.key_id });

/** Changes after `seq`, oldest first, at most `limit`. */
export async function keyEventsAfter(pool: pg.Pool, seq: number, limit: number): Promise<KeyEvent[]> {
  const { rows } = await pool.query<KeyEventRow>(sql('api-key-events'), [seq, limit]);
  return rows.map(toKeyEvent);
}

/** The seq of the newest change (0: none yet). */
export async function lastKeyEventSeq(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ last: string }>(sql('api-key-event-last'));
  return Number(rows[0]?.last ?? 0);
}
