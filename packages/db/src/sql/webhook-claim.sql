-- Leases up to $1 tenants that have events waiting, are not leased by another worker and
-- are not backing off nor disabled, least recently served first; the lease lasts $2 ms and is $3's.
-- SKIP LOCKED: workers claiming at the same moment split the tenants instead of waiting.
WITH due AS (
  SELECT w.tenant_id FROM tenant_webhooks w
  WHERE (w.leased_until IS NULL OR w.leased_until <= now())
    AND (w.retry_at IS NULL OR w.retry_at <= now())
    AND w.disabled_at IS NULL
    AND EXISTS (SELECT 1 FROM webhook_outbox o WHERE o.tenant_id = w.tenant_id)
  ORDER BY w.leased_until NULLS FIRST
  LIMIT $1
  FOR UPDATE SKIP LOCKED
)
UPDATE tenant_webhooks w
SET leased_until = now() + make_interval(secs => $2::int / 1000.0), lease_token = $3
FROM due WHERE w.tenant_id = due.tenant_id
RETURNING w.tenant_id, w.url, w.secret, w.failures
