-- A tenant and its first API key, in one statement: no tenant is ever left without the
-- key its creator was shown. $1 tenant id, $2 name, $3 tier, $4 rpm, $5 burst, $6 key id,
-- $7 SHA-256 of the key.
WITH tenant AS (
  INSERT INTO tenants (id, name, tier, rpm, burst) VALUES ($1, $2, $3, $4, $5)
  RETURNING id, created_at
)
INSERT INTO api_keys (id, tenant_id, key_hash, created_at)
SELECT $6, id, $7, created_at FROM tenant
