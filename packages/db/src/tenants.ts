import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';

export type TenantTier = 'basic' | 'premium' | 'enterprise';

export interface Tenant {
  id: string;
  name: string;
  tier: TenantTier;
  rpm: number | null;
  burst: number | null;
}

export function hashApiKey(apiKey: string): Buffer {
  return createHash('sha256').update(apiKey).digest();
}

/** A key with 256 random bits: hashing it with SHA-256 (no salt, no KDF) is safe and O(1) to look up. */
function newApiKey(): string {
  return `esh_${randomBytes(32).toString('base64url')}`;
}

export interface NewTenant {
  name: string;
  tier: TenantTier;
  rpm?: number | null;
  burst?: number | null;
}

export async function createTenant(pool: pg.Pool, input: NewTenant): Promise<{ tenant: Tenant; apiKey: string }> {
  const apiKey = newApiKey();
  const tenant: Tenant = {
    id: randomUUID(),
    name: input.name,
    tier: input.tier,
    rpm: input.rpm ?? null,
    burst: input.burst ?? null,
  };
  await pool.query('INSERT INTO tenants (id, name, tier, api_key_hash, rpm, burst) VALUES ($1, $2, $3, $4, $5, $6)', [
    tenant.id,
    tenant.name,
    tenant.tier,
    hashApiKey(apiKey),
    tenant.rpm,
    tenant.burst,
  ]);
  return { tenant, apiKey };
}

export async function findTenantByApiKey(pool: pg.Pool, apiKey: string): Promise<Tenant | null> {
  const { rows } = await pool.query<Tenant>('SELECT id, name, tier, rpm, burst FROM tenants WHERE api_key_hash = $1', [
    hashApiKey(apiKey),
  ]);
  return rows[0] ?? null;
}
