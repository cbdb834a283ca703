-- One batch of the retention purge: up to $2 messages whose last change (updated_at) is
-- more than $1 days ago, oldest first, deleted with their events (the README's Operations: by
-- last change, whatever the status: a pending message untouched for that long goes too,
-- dead letters included). FOR UPDATE SKIP LOCKED: a row a writer holds is left for the
-- next batch instead of waited for, and two purgers never take the same row. Left alone:
-- a message whose provider call is in progress (the provider may be accepting it, and its
-- outcome is about to change it), and a scheduled one (sendAt, up to 35 days ahead: sendAt may be 35
-- days ahead, more than the default 30, and waiting for it is not a change).
-- Returns how many rows of each table went.
WITH doomed AS (
  SELECT id FROM messages
  WHERE updated_at < now() - make_interval(days => $1::int)
    AND status <> 'scheduled'
    AND (provider_call_until IS NULL OR provider_call_until <= now())
  ORDER BY updated_at
  LIMIT $2
  FOR UPDATE SKIP LOCKED
), events AS (
  -- = ANY(array): one probe of message_events_message_id_idx per message, whatever the
  -- planner thinks of the CTE's size (a hash join would read every event).
  DELETE FROM message_events WHERE message_id = ANY (ARRAY(SELECT id FROM doomed))
  RETURNING 1
), gone AS (
  DELETE FROM messages WHERE id = ANY (ARRAY(SELECT id FROM doomed))
  RETURNING 1
)
SELECT (SELECT count(*) FROM gone)::int AS messages, (SELECT count(*) FROM events)::int AS events
