-- One chunk of a bulk cancel, over the next $8 messages of tenant $1 in status $2 after id
-- $3 (NULL: from the first), in id order: the span is read from the (tenant_id, status,
-- id DESC) index alone and bounds the chunk's work whatever the filter matches (a filter
-- read before the limit made the planner sort every match of the tenant per chunk: a
-- million matches would have cost 200 such sorts). Of the span, those matching the
-- filter ($4 recipient, send_at in [$5, $6), metadata containing $7; NULL: any) and that
-- cancel-message.sql would cancel (no provider has it or may have it), are canceled with their
-- events. They are locked in id order, as provider claims lock theirs, so the two never
-- deadlock; the lock waits for a writer holding a row (the release loop moving it to
-- pending) and re-checks the row as it left it.
-- Returns one row: the span's last id and size (fewer than $8: the last chunk), how many
-- were canceled, and the canceled app messages as [{id, recipient}].
WITH span AS (
  SELECT id FROM messages
  WHERE tenant_id = $1 AND status = $2 AND id > COALESCE($3::uuid, '00000000-0000-0000-0000-000000000000')
  ORDER BY id
  LIMIT $8
), due AS (
  SELECT id FROM messages
  WHERE id IN (SELECT id FROM span) AND tenant_id = $1 AND status = $2
    AND ($4::text IS NULL OR recipient = $4)
    AND ($5::timestamptz IS NULL OR send_at >= $5)
    AND ($6::timestamptz IS NULL OR send_at < $6)
    AND ($7::jsonb IS NULL OR metadata @> $7)
    AND provider IS NULL AND provider_message_id IS NULL AND provider_call_until IS NULL
  ORDER BY id
  FOR NO KEY UPDATE
), moved AS (
  UPDATE messages m SET status = 'canceled', updated_at = now()
  FROM due WHERE m.id = due.id
  RETURNING m.id, m.recipient, m.channel
), logged AS (
  INSERT INTO message_events (message_id, status, detail)
  SELECT id, 'canceled', 'canceled by the sender (bulk)' FROM moved ORDER BY id
)
SELECT
  (SELECT id FROM span ORDER BY id DESC LIMIT 1) AS last_id,
  (SELECT count(*) FROM span)::int AS spanned,
  (SELECT count(*) FROM moved)::int AS canceled,
  COALESCE((SELECT json_agg(json_build_object('id', id, 'recipient', recipient)) FROM moved WHERE channel = 'app'), '[]') AS app
