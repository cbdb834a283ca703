-- Releases scheduled messages $1 (locked by this transaction, schedule-due.sql) to
-- pending, each with the detail $2 of its event.
WITH moved AS (
  UPDATE messages m SET status = 'pending', updated_at = now()
  FROM unnest($1::uuid[], $2::text[]) AS r (id, detail)
  WHERE m.id = r.id AND m.status = 'scheduled'
  RETURNING m.id, r.detail
)
INSERT INTO message_events (message_id, status, detail)
SELECT id, 'pending', detail FROM moved
RETURNING message_id
