-- Messages whose TTL passed before an ack become expired (at most $1 per sweep).
WITH due AS (
  SELECT id FROM messages
  WHERE expires_at IS NOT NULL AND expires_at <= now() AND status IN ('pending', 'sent')
  ORDER BY expires_at
  LIMIT $1
  FOR UPDATE SKIP LOCKED
), moved AS (
  UPDATE messages m SET status = 'expired', updated_at = now()
  FROM due WHERE m.id = due.id AND m.status IN ('pending', 'sent')
  RETURNING m.id
)
INSERT INTO message_events (message_id, status, detail)
SELECT id, 'expired', 'ttl passed before delivery' FROM moved
RETURNING message_id
