-- The messages that the first request with Idempotency-Key $2 of tenant $1 stored, if it
-- came within the last $3 seconds. Every message of one request shares its acceptance
-- time (created_at), so the earliest such time names one request even if two were ever
-- stored under the key. In id order, which is the order of the request's entries (UUIDv7
-- from one process's monotonic generator). $4: at most one batch's worth of rows.
SELECT id, created_at, recipient, channel, priority, subject, content, metadata,
  ttl_seconds, fallback, fallback_after_seconds
FROM messages
WHERE tenant_id = $1 AND idempotency_key = $2
  AND created_at = (
    SELECT min(created_at) FROM messages
    WHERE tenant_id = $1 AND idempotency_key = $2 AND created_at > now() - make_interval(secs => $3)
  )
ORDER BY id
LIMIT $4
