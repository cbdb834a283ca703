-- One batch of the retention purge of webhook_outbox: up to $2 events written more than
-- $1 days ago and still not delivered (delivered ones are deleted at once,
-- sql/webhook-delivered.sql): by then their endpoint has been disabled for weeks
-- (retention.webhookDisableAfterHours) and their message is gone (its last change is no
-- later than its last event). Ids grow with time, so these are the oldest ids: the scan
-- for the first one still to keep reads only rows that are being deleted.
WITH doomed AS (
  SELECT id FROM webhook_outbox
  WHERE id < COALESCE(
      (SELECT min(id) FROM webhook_outbox WHERE created_at >= now() - make_interval(days => $1::int)),
      9223372036854775807)
    AND created_at < now() - make_interval(days => $1::int)
  ORDER BY id
  LIMIT $2
  FOR UPDATE SKIP LOCKED
)
DELETE FROM webhook_outbox WHERE id = ANY (ARRAY(SELECT id FROM doomed))
