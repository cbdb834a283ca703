-- One provider attempt that did not end the message: counted, with its reason, and the
-- message stays pending. Returns the attempts since the last replay (the retry budget used).
WITH moved AS (
  UPDATE messages SET attempts = attempts + 1, updated_at = now()
  WHERE id = $1 AND status = ANY($3::text[]) AND provider_message_id IS NULL
  RETURNING id, attempts - attempts_at_replay AS used
), logged AS (
  INSERT INTO message_events (message_id, status, detail)
  SELECT id, 'pending', $2 FROM moved
)
SELECT used FROM moved
