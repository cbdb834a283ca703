-- How many messages of tenant $1 in the statuses $2 match a bulk cancel's filter ($3
-- recipient, send_at in [$4, $5), metadata containing $6; NULL: any), whether a provider
-- holds them or not: a dry run's answer, and after a run what was left (a provider call
-- of it in progress or its outcome unknown).
SELECT count(*)::int AS n FROM messages
WHERE tenant_id = $1 AND status = ANY($2::text[])
  AND ($3::text IS NULL OR recipient = $3)
  AND ($4::timestamptz IS NULL OR send_at >= $4)
  AND ($5::timestamptz IS NULL OR send_at < $5)
  AND ($6::jsonb IS NULL OR metadata @> $6)
