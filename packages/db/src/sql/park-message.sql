-- A message PostgreSQL refused even as `failed`, or one of an ingest job that failed for
-- good: kept as a dead letter, where operators look (GET /v1/admin/dlq), with why, and
-- an event saying so. An id already stored keeps its row, except a provider message still
-- `pending` with no call in progress: a job given up after its rows were stored (its
-- fan-out kept failing) would otherwise leave it pending with no send job, for ever; as a
-- dead letter it is listed and can be replayed. An app message stays pending: devices get
-- it on connect from PostgreSQL without a job.
WITH parked AS (
  INSERT INTO messages (id, tenant_id, recipient, channel, priority, subject, content, metadata, ttl_seconds,
    expires_at, fallback, fallback_after_seconds, idempotency_key, status, failure_reason, created_at, moved_to_dlq_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'dead_letter', $14, $15, now())
  ON CONFLICT (id) DO UPDATE SET status = 'dead_letter', failure_reason = EXCLUDED.failure_reason,
    moved_to_dlq_at = now(), updated_at = now()
  WHERE messages.status = 'pending' AND messages.channel <> 'app' AND messages.provider_message_id IS NULL
    AND (messages.provider_call_until IS NULL OR messages.provider_call_until < now())
  RETURNING id, failure_reason
)
INSERT INTO message_events (message_id, status, detail)
SELECT id, 'dead_letter', failure_reason FROM parked
