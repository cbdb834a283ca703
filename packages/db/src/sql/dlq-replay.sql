-- dead_letter → pending with a fresh retry budget; the history (attempts, events) is kept.
-- The operator's replay is the one edge of the status graph that goes back (migration 0006).
-- Not replayed: a dead letter kept without its tenant (all-zero id) or in its minimal form
-- (content '', which no accepted message has): sending it would deliver nothing, or to nobody.
-- dlq-count.sql and dlq-list.sql ($9) apply the same test.
WITH moved AS (
  UPDATE messages SET status = 'pending', attempts_at_replay = attempts, failure_reason = NULL, updated_at = now()
  WHERE id = ANY($1::uuid[]) AND status = 'dead_letter'
    AND tenant_id <> '00000000-0000-0000-0000-000000000000' AND content <> ''
  RETURNING id, tenant_id, recipient, channel, priority, subject, content, metadata, created_at, ttl_seconds, fallback, fallback_after_seconds
), logged AS (
  INSERT INTO message_events (message_id, status, detail)
  SELECT id, 'pending', 'replayed from the dead-letter queue' FROM moved
)
SELECT * FROM moved
