-- Up to $2 events of tenant $1, oldest first, if it still has no webhook: the check is in
-- this statement, so a webhook set meanwhile keeps its events (an event is only written
-- for a tenant whose webhook its transaction sees, migration 0005). BETWEEN, not =: see
-- sql/webhook-outbox-drop.sql.
WITH doomed AS (
  SELECT id FROM webhook_outbox
  WHERE tenant_id BETWEEN $1 AND $1 AND NOT EXISTS (SELECT 1 FROM tenant_webhooks h WHERE h.tenant_id = $1)
  ORDER BY tenant_id, id
  LIMIT $2
  FOR UPDATE SKIP LOCKED
)
DELETE FROM webhook_outbox WHERE id = ANY (ARRAY(SELECT id FROM doomed))
