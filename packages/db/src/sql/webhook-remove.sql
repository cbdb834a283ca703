-- Removes a tenant's webhook and the events still waiting for it. No row: no such tenant.
WITH removed AS (
  DELETE FROM tenant_webhooks WHERE tenant_id = $1 RETURNING tenant_id
), dropped AS (
  DELETE FROM webhook_outbox WHERE tenant_id IN (SELECT tenant_id FROM removed)
)
SELECT t.id AS tenant_id, EXISTS (SELECT 1 FROM removed) AS removed FROM tenants t WHERE t.id = $1
