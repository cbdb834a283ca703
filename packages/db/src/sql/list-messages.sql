-- Keyset pagination: $3 is the last id of the previous page (or NULL), so pages never
-- repeat or skip a row however many arrive meanwhile.
SELECT id, status, recipient, channel, priority, subject, content, metadata, attempts,
  created_at, updated_at, delivered_at, failure_reason, send_at, held_reason
FROM messages
WHERE tenant_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::uuid IS NULL OR id < $3)
ORDER BY id DESC
LIMIT $4
