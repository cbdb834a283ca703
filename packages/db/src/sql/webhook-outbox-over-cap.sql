-- Failing endpoints (no 2xx since failing_since) with more than $1 events waiting, and the id
-- of the newest event beyond the $1 newest: it and everything older are to be dropped
-- (sql/webhook-outbox-drop.sql). An endpoint that answers keeps its whole backlog: it is
-- being drained. One read of webhook_outbox_tenant_id_idx per failing endpoint, at most
-- $1 + 1 entries. BETWEEN, not =: with an equality the planner drops tenant_id from the
-- ORDER BY and may walk webhook_outbox_pkey backwards filtering on tenant_id, which for an
-- endpoint below the cap means every tenant's events (seen in EXPLAIN, 50 tenants).
SELECT w.tenant_id, beyond.id AS drop_through
FROM tenant_webhooks w
CROSS JOIN LATERAL (
  SELECT o.id FROM webhook_outbox o
  WHERE o.tenant_id BETWEEN w.tenant_id AND w.tenant_id
  ORDER BY o.tenant_id DESC, o.id DESC
  OFFSET $1 LIMIT 1
) beyond
WHERE w.failing_since IS NOT NULL
