import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { newApiKey } from './api-key-secret.ts';
import type { KeyEvent } from './key-events.ts';
import { sql } from './sql-files.ts';

export type TenantTier = 'basic' | 'premium' | 'enterprise';

/** A tenant as a request carries it (request.tenant): what the rate limiter needs. */
export interface Tenant {
  id: string;
  name: string;
  tier: TenantTier;
  rpm: number | null;
  burst: number | null;
}

/** A tenant as operators see it (GET /v1/admin/tenants, `tenant list`). */
export interface TenantView extends Tenant {
  disabled: boolean;
  createdAt: Date;
}

/** The most `rpm` and `burst` can be: tenants.rpm and tenants.burst are PostgreSQL integers. */
export const TENANT_LIMIT_MAX = 2_147_483_647;

export interface NewTenant {
  name: string;
  tier: TenantTier;
  rpm?: number | null;
  burst?: number | null;
}

interface TenantRow {
  id: string;
  name: string;
  tier: TenantTier;
  rpm: number | null;
  burst: number | null;
  disabled: boolean;
  created_at: Date;
}
const toView = (r: TenantRow): TenantView => ({
  id: r.id,
  name: r.name,
  tier: r.tier,
  rpm: r.rpm,
  burst: r.burst,
  disabled: r.disabled,
  createdAt: r.created_at,
});

/** The tenant and its first key (api_keys), shown this once. */
export async function createTenant(pool: pg.Pool, input: NewTenant): Promise<{ tenant: Tenant; apiKey: string; keyId: string }> {
  const key = newApiKey();
  const tenant: Tenant = {
    id: randomUUID(),
    name: input.name,
    tier: input.tier,
    rpm: input.rpm ?? null,
    burst: input.burst ?? null,
  };
  await pool.query(sql('tenant-create'), [tenant.id, tenant.name, tenant.tier, tenant.rpm, tenant.burst, key.keyId, key.hash]);
  return { tenant, apiKey: key.apiKey, keyId: key.keyId };
}

/** Newest first, after the tenant `afterId` (null: from the newest); `hasMore`: another page follows. */
export async function listTenants(
  pool: pg.Pool,
  afterId: string | null,
  limit: number,
): Promise<{ items: TenantView[]; hasMore: boolean }> {
  const { rows } = await pool.query<TenantRow>(sql('tenant-list'), [afterId, limit + 1]);
  return { items: rows.slice(0, limit).map(toView), hasMore: rows.length > limit };
}

/**
 * Disables or enables the tenant. `event`: the change logged for the api processes, null
 * when the tenant already was in that state. null: no such tenant.
 */
export async function setTenantDisabled(
  pool: pg.Pool,
  tenantId: string,
  disabled: boolean,
): Promise<{ tenant: TenantView; event: KeyEvent | null } | null> {
  const { rows } = await pool.query<TenantRow & { event_seq: string | null }>(sql('tenant-set-disabled'), [tenantId, disabled]);
  const row = rows[0];
  if (!row) return null;
  return { tenant: toView(row), event: row.event_seq === null ? null : { seq: Number(row.event_seq), tenantId: row.id, keyId: null } };
}
