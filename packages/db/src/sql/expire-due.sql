-- Messages whose TTL passed before they were confirmed or handed to a provider become expired
-- (at most $1 per sweep): scheduled ones (held for quiet hours past their TTL, or waiting in
-- a release backlog: never sent late), pending ones, and app messages pushed to a device
-- (sent) that no device acknowledged. Never one handed to a provider (provider_message_id):
-- its TTL is the provider's validity period, and the provider may have delivered it; nor one
-- whose call's outcome is unknown (provider set, no provider id: the worker stopped during the
-- call). Never one whose provider call is in progress (provider_call_until): the provider may
-- be accepting it right now.
WITH due AS (
  SELECT id, status FROM messages
  WHERE expires_at IS NOT NULL AND expires_at <= now()
    AND status IN ('scheduled', 'pending', 'sent') AND provider_message_id IS NULL AND provider IS NULL
    AND (status IN ('scheduled', 'pending') OR channel = 'app')
    AND (provider_call_until IS NULL OR provider_call_until <= now())
  ORDER BY expires_at
  LIMIT $1
  FOR UPDATE SKIP LOCKED
), moved AS (
  UPDATE messages m SET status = 'expired', updated_at = now()
  FROM due WHERE m.id = due.id
    AND m.status IN ('scheduled', 'pending', 'sent') AND m.provider_message_id IS NULL AND m.provider IS NULL
    AND (m.status IN ('scheduled', 'pending') OR m.channel = 'app')
    AND (m.provider_call_until IS NULL OR m.provider_call_until <= now())
  RETURNING m.id, due.status AS was
)
INSERT INTO message_events (message_id, status, detail)
SELECT id, 'expired', CASE WHEN was = 'scheduled' THEN 'ttl passed before it was released' ELSE 'ttl passed before delivery' END FROM moved
RETURNING message_id
