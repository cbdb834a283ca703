-- No POST to this tenant's endpoint for $3 ms; $4 = 1 counts a failure (0: the breaker
-- was open, nothing was tried). Releases the lease ($2). A counted failure starts the
-- failure window if none is running; $5 (seconds, NULL: not a failure) disables the
-- endpoint when its window started at least that long ago, i.e. nothing it was sent since
-- was answered 2xx. Returns when the window started and whether it is disabled now.
UPDATE tenant_webhooks
SET failures = failures + $4::int,
  failing_since = CASE WHEN $4::int = 1 THEN COALESCE(failing_since, now()) ELSE failing_since END,
  disabled_at = CASE WHEN $5::int IS NOT NULL AND failing_since <= now() - make_interval(secs => $5::int) THEN now() ELSE disabled_at END,
  retry_at = now() + make_interval(secs => $3::int / 1000.0), leased_until = now()
WHERE tenant_id = $1 AND lease_token = $2
RETURNING failing_since, disabled_at IS NOT NULL AS disabled
