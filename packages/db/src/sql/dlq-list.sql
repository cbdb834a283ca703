-- Dead letters, newest first, filtered; ($6, $7) is where the previous page ended: its last
-- row's cursor_at (moved_to_dlq_at to the microsecond) and id. A cursor in milliseconds (as
-- the api's cursors were, and movedToDlqAt is) takes that row's stored time instead, found
-- within 1 ms of $6: with the millisecond one, the rows after it that share its time (a batch
-- dead-lettered in one statement) were skipped. That row dead-lettered again since is not
-- found, and $6 is all there is: hence cursor_at.
-- $3 is found as plain text (position, not ILIKE): a "%" or "_" in it is that character, not
-- a wildcard that widens a replay to every dead letter. $9: only those dlq-replay.sql would
-- replay (the same test as there), for a replay's pages.
SELECT id, tenant_id, recipient, channel, priority, failure_reason, attempts, moved_to_dlq_at, created_at,
  to_char(moved_to_dlq_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
FROM messages
WHERE status = 'dead_letter'
  AND ($1::uuid IS NULL OR tenant_id = $1)
  AND ($2::text IS NULL OR channel = $2)
  AND ($3::text IS NULL OR position(lower($3) IN lower(failure_reason)) > 0)
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
  AND (NOT $9::boolean OR (tenant_id <> '00000000-0000-0000-0000-000000000000' AND content <> ''))
ORDER BY moved_to_dlq_at DESC, id DESC
LIMIT $8
