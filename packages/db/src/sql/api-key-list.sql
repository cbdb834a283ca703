-- Tenant $1's keys not revoked, oldest first. No row: no such tenant; one row with a null
-- key_id: the tenant has no key in use.
SELECT k.id AS key_id, k.created_at, k.last_used_at
FROM tenants t
LEFT JOIN api_keys k ON k.tenant_id = t.id AND k.revoked_at IS NULL
WHERE t.id = $1
ORDER BY k.created_at, k.id
