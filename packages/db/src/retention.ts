import type pg from 'pg';
import { sql } from './sql-files.ts';

/** A pool, or the one connection that holds the purge lock. */
type Queryable = pg.Pool | pg.PoolClient;

/** Rows one purge statement deleted, by table. */
export interface PurgedMessages {
  messages: number;
  events: number;
}

/**
 * Runs `work` on one connection while it holds the purge lock (a session advisory lock),
 * so that one worker at a time purges; null without running it when another holds the lock.
 */
export async function withRetentionLock<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T | null> {
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ locked: boolean }>(sql('retention-lock'));
    if (rows[0]?.locked !== true) {
      client.release();
      return null;
    }
    const result = await work(client);
    await client.query(sql('retention-unlock'));
    client.release();
    return result;
  } catch (error) {
    // The connection is closed rather than returned: its session ends, and the lock with it,
    // whatever state a failed statement left it in.
    client.release(error as Error);
    throw error;
  }
}

/** Up to `limit` messages whose last change is more than `days` ago, with their events (sql/retention-messages.sql). */
export async function purgeMessages(db: Queryable, days: number, limit: number): Promise<PurgedMessages> {
  const { rows } = await db.query<PurgedMessages>(sql('retention-messages'), [days, limit]);
  return rows[0] ?? { messages: 0, events: 0 };
}

/** Up to `limit` undelivered webhook events written more than `days` ago. */
export async function purgeExpiredOutbox(db: Queryable, days: number, limit: number): Promise<number> {
  const { rowCount } = await db.query(sql('retention-outbox-expired'), [days, limit]);
  return rowCount ?? 0;
}

/** Tenants with webhook events waiting and no webhook to send them to. */
export async function outboxOrphanTenants(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ tenant_id: string }>(sql('retention-outbox-orphans'));
  return rows.map((r) => r.tenant_id);
}

/** Up to `limit` of an orphan tenant's waiting events (none once it has a webhook again). */
export async function dropOrphanOutbox(db: Queryable, tenantId: string, limit: number): Promise<number> {
  const { rowCount } = await db.query(sql('retention-outbox-orphan-drop'), [tenantId, limit]);
  return rowCount ?? 0;
}
