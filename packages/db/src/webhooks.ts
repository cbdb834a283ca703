import { newWebhookSecret } from '@esh3ar/contracts';
import type pg from 'pg';
import { sql } from './sql-files.ts';

export interface TenantWebhook {
  tenantId: string;
  url: string;
  secret: string;
}

/** Registers or replaces a tenant's webhook with a fresh secret; null: no such tenant. */
export async function setTenantWebhook(pool: pg.Pool, tenantId: string, url: string): Promise<TenantWebhook | null> {
  const { rows } = await pool.query<{ tenant_id: string; url: string; secret: string }>(sql('webhook-set'), [
    tenantId,
    url,
    newWebhookSecret(),
  ]);
  const row = rows[0];
  return row ? { tenantId: row.tenant_id, url: row.url, secret: row.secret } : null;
}

/** null: no such tenant; `webhook: null`: the tenant has no webhook. */
export async function getTenantWebhook(
  pool: pg.Pool,
  tenantId: string,
): Promise<{ tenantId: string; webhook: { url: string; secret: string } | null } | null> {
  const { rows } = await pool.query<{ tenant_id: string; url: string | null; secret: string | null }>(sql('webhook-get'), [tenantId]);
  const row = rows[0];
  if (!row) return null;
  return { tenantId: row.tenant_id, webhook: row.url === null || row.secret === null ? null : { url: row.url, secret: row.secret } };
}

/** Removes the webhook and the events still waiting for it; null: no such tenant. */
export async function removeTenantWebhook(pool: pg.Pool, tenantId: string): Promise<{ removed: boolean } | null> {
  const { rows } = await pool.query<{ removed: boolean }>(sql('webhook-remove'), [tenantId]);
  const row = rows[0];
  return row ? { removed: row.removed } : null;
}

/** A tenant whose events this worker may deliver until its lease runs out. */
export interface WebhookClaim {
  tenantId: string;
  url: string;
  secret: string;
  /** Consecutive failed POSTs before this claim. */
  failures: number;
}

export interface OutboxEvent {
  /** bigint as a string: the event's id at the receiver. */
  id: string;
  messageId: string;
  status: string;
  at: Date;
  detail: string | null;
}

export async function claimWebhookTenants(pool: pg.Pool, limit: number, leaseMs: number, leaseToken: string): Promise<WebhookClaim[]> {
  const { rows } = await pool.query<{ tenant_id: string; url: string; secret: string; failures: number }>(sql('webhook-claim'), [
    limit,
    leaseMs,
    leaseToken,
  ]);
  return rows.map((r) => ({ tenantId: r.tenant_id, url: r.url, secret: r.secret, failures: r.failures }));
}

/** The oldest `limit` events of a tenant; none when the lease has less than `minLeaseLeftMs` to run (or was lost). */
export async function webhookOutboxBatch(
  pool: pg.Pool,
  tenantId: string,
  leaseToken: string,
  limit: number,
  minLeaseLeftMs: number,
): Promise<OutboxEvent[]> {
  const { rows } = await pool.query<{ id: string; message_id: string; status: string; at: Date; detail: string | null }>(
    sql('webhook-batch'),
    [tenantId, limit, leaseToken, minLeaseLeftMs],
  );
  return rows.map((r) => ({ id: r.id, messageId: r.message_id, status: r.status, at: r.at, detail: r.detail }));
}

/** Removes delivered events; keeps the lease `extendMs` longer (0: releases it). False: the lease was lost. */
export async function markWebhookDelivered(
  pool: pg.Pool,
  tenantId: string,
  leaseToken: string,
  ids: readonly string[],
  extendMs: number,
): Promise<boolean> {
  const { rowCount } = await pool.query(sql('webhook-delivered'), [tenantId, ids, leaseToken, extendMs]);
  return rowCount === 1;
}

/** Where a failing endpoint stands after a retry was scheduled. */
export interface WebhookRetry {
  /** The first failure since its last success (null: none). */
  failingSince: Date | null;
  /** True once it has failed for the whole window: it gets no POST until it is set again. */
  disabled: boolean;
}

/**
 * Releases the lease and holds the tenant back `delayMs`; `countFailure` raises its backoff
 * exponent. `disableAfterMs` (null: this was no failure, nothing to decide) disables the
 * endpoint when its failures started at least that long ago. Null: the lease was lost.
 */
export async function retryWebhookLater(
  pool: pg.Pool,
  tenantId: string,
  leaseToken: string,
  delayMs: number,
  countFailure: boolean,
  disableAfterMs: number | null,
): Promise<WebhookRetry | null> {
  const { rows } = await pool.query<{ failing_since: Date | null; disabled: boolean }>(sql('webhook-retry'), [
    tenantId,
    leaseToken,
    Math.round(delayMs),
    countFailure ? 1 : 0,
    disableAfterMs === null ? null : Math.ceil(disableAfterMs / 1000),
  ]);
  const row = rows[0];
  return row ? { failingSince: row.failing_since, disabled: row.disabled } : null;
}

/** Tenant endpoints disabled after failing for too long. */
export async function disabledWebhookCount(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ disabled: number }>(sql('webhook-disabled-count'));
  return rows[0]?.disabled ?? 0;
}

/** Tenants with more than `max` events waiting, and the id up to which their oldest are to be dropped. */
export async function webhookOutboxOverCap(db: pg.Pool | pg.PoolClient, max: number): Promise<{ tenantId: string; dropThrough: string }[]> {
  const { rows } = await db.query<{ tenant_id: string; drop_through: string }>(sql('webhook-outbox-over-cap'), [max]);
  return rows.map((r) => ({ tenantId: r.tenant_id, dropThrough: r.drop_through }));
}

/** Drops up to `limit` of a tenant's waiting events with ids up to `dropThrough`, oldest first. */
export async function dropWebhookOutbox(
  db: pg.Pool | pg.PoolClient,
  tenantId: string,
  dropThrough: string,
  limit: number,
): Promise<number> {
  const { rowCount } = await db.query(sql('webhook-outbox-drop'), [tenantId, dropThrough, limit]);
  return rowCount ?? 0;
}

/** Seconds since the oldest undelivered event was written (0: none waiting). */
export async function webhookOutboxLagSeconds(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ lag: number }>(sql('webhook-lag'));
  return rows[0]?.lag ?? 0;
}
