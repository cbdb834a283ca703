-- The scheduled messages due by $2 (NULL: now()), at most $1 of them: critical first, then
-- high, normal, low, and within a priority the oldest send_at first (then id). Each row is
-- locked for the release transaction; rows another worker's round holds are passed over,
-- never waited for (SKIP LOCKED), so racing workers split the due rows and none takes a
-- row twice. One range scan of messages_scheduled_idx (priority, send_at, id) per
-- priority, however many are scheduled later; a priority's scan runs only while the
-- round has room (the outer LIMIT stops pulling rows, and an unpulled row is not locked).
-- A row past its TTL is left to the expiry sweep (expire-due.sql): never released late.
-- now: the time the rows were due by, for the worker's quiet-hours decision and the lag.
SELECT m.id, m.tenant_id, m.recipient, m.channel, m.priority, m.subject, m.content, m.metadata,
  m.ttl_seconds, m.expires_at, m.fallback, m.fallback_after_seconds, m.idempotency_key,
  m.created_at, m.send_at, m.held_reason, coalesce($2::timestamptz, now()) AS now
FROM (VALUES (3::smallint), (2::smallint), (1::smallint), (0::smallint)) AS p (priority)
CROSS JOIN LATERAL (
  SELECT * FROM messages
  WHERE status = 'scheduled' AND priority = p.priority
    AND send_at <= coalesce($2::timestamptz, now())
    AND (expires_at IS NULL OR expires_at > coalesce($2::timestamptz, now()))
  ORDER BY send_at, id
  LIMIT $1
  FOR UPDATE SKIP LOCKED
) m
LIMIT $1
