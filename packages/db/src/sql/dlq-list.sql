-- Dead letters, newest first, filtered; ($6, $7) is where the previous page ended.
SELECT id, tenant_id, recipient, channel, priority, failure_reason, attempts, moved_to_dlq_at, created_at
FROM messages
WHERE status = 'dead_letter'
  AND ($1::uuid IS NULL OR tenant_id = $1)
  AND ($2::text IS NULL OR channel = $2)
  AND ($3::text IS NULL OR failure_reason ILIKE '%' || $3 || '%')
  AND ($4::timestamptz IS NULL OR moved_to_dlq_at >= $4)
  AND ($5::timestamptz IS NULL OR moved_to_dlq_at < $5)
  AND ($6::timestamptz IS NULL OR (moved_to_dlq_at, id) < ($6, $7::uuid))
ORDER BY moved_to_dlq_at DESC, id DESC
LIMIT $8
