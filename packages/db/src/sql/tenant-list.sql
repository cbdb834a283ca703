-- Tenants newest first, after the tenant $1 (null: from the newest), $2 rows.
SELECT id, name, tier, rpm, burst, disabled_at IS NOT NULL AS disabled, created_at
FROM tenants
WHERE $1::uuid IS NULL OR (created_at, id) < (SELECT created_at, id FROM tenants WHERE id = $1::uuid)
ORDER BY created_at DESC, id DESC
LIMIT $2
