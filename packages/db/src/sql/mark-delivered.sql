-- Acks: pending/sent → delivered, only for messages of the acknowledging phone.
-- The first ack wins; a repeated or late ack matches no row and changes nothing.
WITH moved AS (
  UPDATE messages m
  SET status = 'delivered', delivered_at = a.at, updated_at = now()
  FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS a(id, recipient, at)
  WHERE m.id = a.id AND m.recipient = a.recipient AND m.channel = 'app'
    AND m.status IN ('pending', 'sent')
  RETURNING m.id, a.at
)
INSERT INTO message_events (message_id, status, at, detail)
SELECT id, 'delivered', at, 'acknowledged by the device' FROM moved
RETURNING message_id
