-- Key $2 (SHA-256 $3) for tenant $1; no row: no such tenant.
INSERT INTO api_keys (id, tenant_id, key_hash)
SELECT $2, id, $3 FROM tenants WHERE id = $1
RETURNING id, created_at
