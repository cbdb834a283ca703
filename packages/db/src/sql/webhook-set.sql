-- Registers or replaces a tenant's webhook (a new secret each time); no row: no such tenant.
-- A new URL is tried at once: the failure count, backoff and failure window of the old one are
-- dropped, and a disabled endpoint is enabled again (the way operators re-enable one). A
-- worker's lease on the old one ends too: it holds the old URL and secret, and would go on
-- sending with them (the POST in flight completes; the next batch is the new lease's).
INSERT INTO tenant_webhooks (tenant_id, url, secret)
SELECT id, $2, $3 FROM tenants WHERE id = $1
ON CONFLICT (tenant_id) DO UPDATE SET url = EXCLUDED.url, secret = EXCLUDED.secret, updated_at = now(), failures = 0, retry_at = NULL,
  failing_since = NULL, disabled_at = NULL, lease_token = NULL, leased_until = NULL
RETURNING tenant_id, url, secret
