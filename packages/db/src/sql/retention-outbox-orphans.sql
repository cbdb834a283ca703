-- Tenants with events waiting and no webhook any more: nothing will ever deliver those
-- (removing a webhook deletes its events, sql/webhook-remove.sql, but an event committed
-- just after the removal is left behind). A loose index scan of
-- webhook_outbox_tenant_id_idx: one probe per distinct tenant, not a read of every event.
WITH RECURSIVE waiting AS (
  (SELECT tenant_id FROM webhook_outbox ORDER BY tenant_id LIMIT 1)
  UNION ALL
  SELECT (SELECT o.tenant_id FROM webhook_outbox o WHERE o.tenant_id > w.tenant_id ORDER BY o.tenant_id LIMIT 1)
  FROM waiting w WHERE w.tenant_id IS NOT NULL
)
SELECT tenant_id FROM waiting
WHERE tenant_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM tenant_webhooks h WHERE h.tenant_id = waiting.tenant_id)
