-- Up Migration
ALTER TABLE messages
  -- The provider's id of an accepted message: recorded before the job is acknowledged.
  ADD COLUMN provider_message_id text,
  ADD COLUMN moved_to_dlq_at timestamptz,
  -- attempts counted since the last DLQ replay (a replay grants a fresh budget; the history is kept).
  ADD COLUMN attempts_at_replay integer NOT NULL DEFAULT 0;

CREATE INDEX messages_dead_letter_idx ON messages (moved_to_dlq_at DESC, id) WHERE status = 'dead_letter';

-- Down Migration
DROP INDEX messages_dead_letter_idx;
ALTER TABLE messages DROP COLUMN attempts_at_replay, DROP COLUMN moved_to_dlq_at, DROP COLUMN provider_message_id;
