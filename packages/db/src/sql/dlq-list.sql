-- Dead letters, newest first, filtered; ($6, $7) is where the previous page ended: its last
-- row's moved_to_dlq_at, as printed (to the millisecond), and id. The comparison takes that
-- row's stored time (to the microsecond) instead: with the millisecond one, the rows after it
-- that share its time (a batch dead-lettered in one statement) were skipped. Within 1 ms of
-- $6 the row is the cursor's; else (dead-lettered again since) $6 is all there is.
SELECT id, tenant_id, recipient, channel, priority, failure_reason, attempts, moved_to_dlq_at, created_at
FROM messages
WHERE status = 'dead_letter'
  AND ($1::uuid IS NULL OR tenant_id = $1)
  AND ($2::text IS NULL OR channel = $2)
  AND ($3::text IS NULL OR failure_reason ILIKE '%' || $3 || '%')
  AND ($4::timestamptz IS NULL OR moved_to_dlq_at >= $4)
  AND ($5::timestamptz IS NULL OR moved_to_dlq_at < $5)
  AND ($6::timestamptz IS NULL OR (moved_to_dlq_at, id) < (
    COALESCE(
      (SELECT c.moved_to_dlq_at FROM messages c
       WHERE c.id = $7::uuid AND c.moved_to_dlq_at BETWEEN $6::timestamptz - interval '1 millisecond' AND $6::timestamptz + interval '1 millisecond'),
      $6::timestamptz
    ),
    $7::uuid
  ))
ORDER BY moved_to_dlq_at DESC, id DESC
LIMIT $8
