/**
 * The api_keys table (migration 0008): keys are created, listed and revoked here, looked
 * up by the api, and their last use recorded here, nowhere else.
 */
import type pg from 'pg';
import { hashApiKey, newApiKey } from './api-key-secret.ts';
import { toKeyEvent, type KeyEvent, type KeyEventRow } from './key-events.ts';
import { sql } from './sql-files.ts';
import type { Tenant, TenantTier } from './tenants.ts';

/** A presented key as PostgreSQL knows it. */
export interface ApiKeyMatch {
  keyId: string;
  revoked: boolean;
  /** The tenant is disabled: its keys are refused until it is enabled. */
  disabled: boolean;
  tenant: Tenant;
}

export interface ApiKeyView {
  keyId: string;
  createdAt: Date;
  /** Kept by the api processes in memory and written every 30 s, so up to that much behind. */
  lastUsedAt: Date | null;
}

/** A new key for the tenant, shown this once; null: no such tenant. */
export async function createApiKey(pool: pg.Pool, tenantId: string): Promise<{ keyId: string; apiKey: string } | null> {
  const key = newApiKey();
  const { rowCount } = await pool.query(sql('api-key-create'), [tenantId, key.keyId, key.hash]);
  return rowCount === 1 ? { keyId: key.keyId, apiKey: key.apiKey } : null;
}

/** The tenant's keys in use, oldest first (never a key or its hash); null: no such tenant. */
export async function listApiKeys(pool: pg.Pool, tenantId: string): Promise<ApiKeyView[] | null> {
  const { rows } = await pool.query<{ key_id: string | null; created_at: Date; last_used_at: Date | null }>(sql('api-key-list'), [
    tenantId,
  ]);
  if (rows.length === 0) return null;
  return rows.filter((r) => r.key_id !== null).map((r) => ({ keyId: r.key_id!, createdAt: r.created_at, lastUsedAt: r.last_used_at }));
}

/** Revokes the key and logs the change; null: the tenant has no such key in use. */
export async function revokeApiKey(pool: pg.Pool, tenantId: string, keyId: string): Promise<KeyEvent | null> {
  const { rows } = await pool.query<KeyEventRow>(sql('api-key-revoke'), [tenantId, keyId]);
  return rows[0] ? toKeyEvent(rows[0]) : null;
}

/** The key and its tenant, revoked or not; null: no such key. */
export async function findApiKey(pool: pg.Pool, apiKey: string): Promise<ApiKeyMatch | null> {
  const { rows } = await pool.query<{
    key_id: string;
    revoked: boolean;
    disabled: boolean;
    id: string;
    name: string;
    tier: TenantTier;
    rpm: number | null;
    burst: number | null;
  }>(sql('api-key-lookup'), [hashApiKey(apiKey)]);
  const row = rows[0];
  if (!row) return null;
  return {
    keyId: row.key_id,
    revoked: row.revoked,
    disabled: row.disabled,
    tenant: { id: row.id, name: row.name, tier: row.tier, rpm: row.rpm, burst: row.burst },
  };
}

/** Key id → when it was last used (ms since the epoch), in one UPDATE. */
export async function recordKeyUsage(pool: pg.Pool, usage: ReadonlyMap<string, number>): Promise<void> {
  if (usage.size === 0) return;
  const ids = [...usage.keys()];
  await pool.query(sql('api-key-usage'), [ids, ids.map((id) => new Date(usage.get(id)!))]);
}
