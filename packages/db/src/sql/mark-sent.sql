-- pending → sent for the app messages a gateway pushed; a later status is never moved back.
WITH moved AS (
  UPDATE messages m
  SET status = 'sent', updated_at = now()
  FROM unnest($1::uuid[]) AS p(id)
  WHERE m.id = p.id AND m.status = 'pending' AND m.channel = 'app'
  RETURNING m.id
)
INSERT INTO message_events (message_id, status, detail)
SELECT id, 'sent', $2 FROM moved
