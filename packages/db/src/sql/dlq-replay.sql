-- dead_letter → pending with a fresh retry budget; the history (attempts, events) is kept.
-- The operator's replay is the one edge of the status graph that goes back (migration 0006).
WITH moved AS (
  UPDATE messages SET status = 'pending', attempts_at_replay = attempts, failure_reason = NULL, updated_at = now()
  WHERE id = ANY($1::uuid[]) AND status = 'dead_letter'
  RETURNING id, tenant_id, recipient, channel, priority, subject, content, metadata, created_at, ttl_seconds, fallback, fallback_after_seconds
), logged AS (
  INSERT INTO message_events (message_id, status, detail)
  SELECT id, 'pending', 'replayed from the dead-letter queue' FROM moved
)
SELECT * FROM moved
