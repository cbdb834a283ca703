-- Cancels message $1 of tenant $2 if it is scheduled or pending, was never handed to a
-- provider, and no provider call of it is in progress or ended without an outcome (either
-- may have reached the phone; a call's outcome clears provider_call_until, a lapsed one
-- leaves it). One refused or failed for a transient reason before may be canceled, writing its `canceled` event (which reaches status webhooks). The row
-- is locked first, so the answer is decided on the row as the last writer left it: a
-- worker's COPY merge, a provider claim or the release loop that holds it is waited for.
-- One row per message found: its status before, whether this canceled it, and what a
-- refusal says why from. No row: no such message of the tenant in PostgreSQL.
WITH target AS (
  SELECT id, status, provider, provider_message_id, provider_call_to, provider_call_until
  FROM messages
  WHERE id = $1 AND tenant_id = $2
  FOR NO KEY UPDATE
), decided AS (
  SELECT *, status IN ('scheduled', 'pending') AND provider IS NULL AND provider_message_id IS NULL
      AND provider_call_until IS NULL AS cancelable
  FROM target
), moved AS (
  UPDATE messages m SET status = 'canceled', updated_at = now()
  FROM decided d
  WHERE m.id = d.id AND d.cancelable
  RETURNING m.id
), logged AS (
  INSERT INTO message_events (message_id, status, detail)
  SELECT id, 'canceled', 'canceled by the sender' FROM moved
)
SELECT d.status, d.cancelable AS canceled, d.provider_call_until > now() AS call_in_progress,
  d.provider IS NOT NULL OR d.provider_message_id IS NOT NULL OR d.provider_call_until IS NOT NULL AS provider_called
FROM decided d
