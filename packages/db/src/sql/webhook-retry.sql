-- No POST to this tenant's endpoint for $3 ms; $4 = 1 counts a failure (0: the breaker
-- was open, nothing was tried). Releases the lease ($2).
UPDATE tenant_webhooks
SET failures = failures + $4::int, retry_at = now() + make_interval(secs => $3::int / 1000.0), leased_until = now()
WHERE tenant_id = $1 AND lease_token = $2
