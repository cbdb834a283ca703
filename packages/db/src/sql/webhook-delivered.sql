-- The endpoint answered 2xx for these events ($2): they are removed (by id, not "up to the
-- last id": an older id committed later may not have been read yet). The failure count and
-- the failure window are reset, and the lease ($3) extended by $4 ms to go on, or released
-- (0). No row: the lease was lost to another worker.
WITH delivered AS (
  DELETE FROM webhook_outbox WHERE tenant_id = $1 AND id = ANY($2::bigint[])
)
UPDATE tenant_webhooks
SET failures = 0, failing_since = NULL, retry_at = NULL, leased_until = now() + make_interval(secs => $4::int / 1000.0)
WHERE tenant_id = $1 AND lease_token = $3
RETURNING tenant_id
