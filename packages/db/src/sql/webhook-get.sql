SELECT t.id AS tenant_id, w.url, w.secret
FROM tenants t LEFT JOIN tenant_webhooks w ON w.tenant_id = t.id
WHERE t.id = $1
