SELECT id, status, recipient, channel, priority, subject, content, metadata, attempts,
  created_at, stored_at, updated_at, delivered_at, failure_reason, send_at, held_reason
FROM messages
WHERE id = $1 AND tenant_id = $2
