-- Up to $3 of tenant $1's events with ids up to $2, oldest first: the overflow of an
-- endpoint's backlog (retention.webhookBacklogMax). A row the dispatcher is POSTing is not
-- locked by it: if it answers 2xx after this, its delete finds the row already gone.
-- BETWEEN, not =: an equality lets the planner read webhook_outbox_pkey in id order,
-- filtering out every other tenant's events (sql/webhook-outbox-over-cap.sql).
WITH doomed AS (
  SELECT id FROM webhook_outbox
  WHERE tenant_id BETWEEN $1 AND $1 AND id <= $2
  ORDER BY tenant_id, id
  LIMIT $3
  FOR UPDATE SKIP LOCKED
)
DELETE FROM webhook_outbox WHERE id = ANY (ARRAY(SELECT id FROM doomed))
