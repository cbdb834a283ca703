-- The dead letters a replay with this filter would replay (the filter of dlq-list.sql, and
-- the test of dlq-replay.sql), per tenant and channel, the largest group first: a dry run
-- of a million dead letters is one statement, not a thousand pages of dlq-list.sql.
SELECT tenant_id, channel, count(*)::int AS count
FROM messages
WHERE status = 'dead_letter'
  AND ($1::uuid IS NULL OR tenant_id = $1)
  AND ($2::text IS NULL OR channel = $2)
  AND ($3::text IS NULL OR position(lower($3) IN lower(failure_reason)) > 0)
  AND ($4::timestamptz IS NULL OR moved_to_dlq_at >= $4)
  AND ($5::timestamptz IS NULL OR moved_to_dlq_at < $5)
  AND tenant_id <> '00000000-0000-0000-0000-000000000000' AND content <> ''
GROUP BY tenant_id, channel
ORDER BY count DESC, tenant_id, channel COLLATE "C"
