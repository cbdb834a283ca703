-- A provider attempt that ended the message: sent (accepted by the provider), failed
-- (refused for good) or dead_letter (retry budget spent). Only a message not yet handed
-- to a provider, in one of the statuses $6 allows, moves; its claim ends. $8 names the
-- provider that accepted it (sim, twilio, …), set with provider_message_id.
WITH moved AS (
  UPDATE messages SET
    status = $2,
    attempts = attempts + $7::int,
    provider_message_id = COALESCE($3, provider_message_id),
    provider = COALESCE($8, provider),
    provider_call_until = NULL,
    failure_reason = CASE WHEN $2 = 'sent' THEN failure_reason ELSE $4 END,
    moved_to_dlq_at = CASE WHEN $2 = 'dead_letter' THEN now() ELSE moved_to_dlq_at END,
    updated_at = now()
  WHERE id = $1 AND status = ANY($6::text[]) AND provider_message_id IS NULL
  RETURNING id
)
INSERT INTO message_events (message_id, status, detail)
SELECT id, $2, $5 FROM moved
RETURNING message_id
