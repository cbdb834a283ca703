-- A message PostgreSQL refused even as `failed`, or one of an ingest job that failed for
-- good: kept as a dead letter, where operators look (GET /v1/admin/dlq), with why, and
-- an event saying so. An id already stored keeps its row.
WITH parked AS (
  INSERT INTO messages (id, tenant_id, recipient, channel, priority, subject, content, metadata, ttl_seconds,
    expires_at, fallback, fallback_after_seconds, idempotency_key, status, failure_reason, created_at, moved_to_dlq_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'dead_letter', $14, $15, now())
  ON CONFLICT (id) DO NOTHING
  RETURNING id, failure_reason
)
INSERT INTO message_events (message_id, status, detail)
SELECT id, 'dead_letter', failure_reason FROM parked
