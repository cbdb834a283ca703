-- Messages $1 wait: every provider of their channel has its circuit open. $2, why, is
-- noted once per wait, on pending messages only (a note on a sent message would reach
-- the sender's webhook as a second `sent`), and only on those still to be sent.
INSERT INTO message_events (message_id, status, detail)
SELECT id, 'pending', $2 FROM messages
WHERE id = ANY($1::uuid[]) AND status = 'pending' AND provider_message_id IS NULL AND provider IS NULL
