-- The key whose SHA-256 is $1, revoked or not, with its tenant (the api's authentication).
SELECT k.id AS key_id, k.revoked_at IS NOT NULL AS revoked,
  t.id, t.name, t.tier, t.rpm, t.burst, t.disabled_at IS NOT NULL AS disabled
FROM api_keys k
JOIN tenants t ON t.id = k.tenant_id
WHERE k.key_hash = $1
