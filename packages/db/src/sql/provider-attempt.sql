-- One provider attempt that did not end the message: counted, the claim released, and the
-- message stays where it was (pending, or sent when a gateway pushed an app message whose
-- fallback is being tried). Its reason is noted as a `pending` event only while pending: a
-- note on a sent message would reach the sender's webhook as a second `sent`.
-- Returns the attempts since the last replay (the retry budget used).
WITH moved AS (
  UPDATE messages SET attempts = attempts + 1, provider_call_until = NULL, updated_at = now()
  WHERE id = $1 AND status = ANY($3::text[]) AND provider_message_id IS NULL
  RETURNING id, status, attempts - attempts_at_replay AS used
), logged AS (
  INSERT INTO message_events (message_id, status, detail)
  SELECT id, status, $2 FROM moved WHERE status = 'pending'
)
SELECT used FROM moved
