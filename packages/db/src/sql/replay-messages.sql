-- A page of a phone's unacknowledged, unexpired app messages, highest priority first,
-- then oldest first; ($2, $3) is the (priority, id) the previous page ended with; $5 one
-- tenant's only (NULL: every tenant's).
SELECT id, tenant_id, recipient, subject, content, priority, metadata, created_at, expires_at
FROM messages
WHERE recipient = $1
  AND channel = 'app'
  AND ($5::uuid IS NULL OR tenant_id = $5::uuid)
  AND status IN ('pending', 'sent')
  AND provider_message_id IS NULL AND provider IS NULL -- sent by a provider instead (fallback, outcome known or not): not pushed again
  AND (expires_at IS NULL OR expires_at > now())
  AND ($2::smallint IS NULL OR priority < $2 OR (priority = $2 AND id > $3::uuid))
ORDER BY priority DESC, id
LIMIT $4
