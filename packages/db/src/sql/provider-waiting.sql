-- A provider's circuit is open: the message waits (still pending), and says why, once per wait.
INSERT INTO message_events (message_id, status, detail)
SELECT id, 'pending', $2 FROM messages WHERE id = $1 AND status IN ('pending', 'sent') AND provider_message_id IS NULL
