-- A claimed call that did not happen (the provider's circuit is open, its bulkhead full, or
-- the TTL ran out while the call waited): the lease ends, and the message waits, still
-- pending. $2 is why, noted once per wait (NULL: already noted); a message that a gateway
-- pushed meanwhile (sent) gets no note, which would read as a second `sent`.
WITH released AS (
  UPDATE messages SET provider_call_until = NULL
  WHERE id = $1 AND provider_call_until IS NOT NULL
  RETURNING id, status
)
INSERT INTO message_events (message_id, status, detail)
SELECT id, status, $2 FROM released WHERE $2::text IS NOT NULL AND status = 'pending'
