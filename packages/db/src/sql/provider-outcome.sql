-- The outcomes of a batch's provider calls, one per message $1 with its kind $2:
--   sent     accepted: sent, with the provider's id $3 and the provider $4
--   unknown  a call that never ended (sql/provider-claim.sql): sent, through provider $4,
--            with no provider id; it is not called again
--   failed   refused for good, reason $5
--   attempt  a transient failure: counted; once the attempts since the last replay reach
--            $8, dead_letter with reason $5, else the message stays where it was
--   release  no call was made (the breaker refused it, the TTL ran out): the claim just ends
-- Every kind but release counts an attempt and applies only to a message in one of the
-- statuses $7 not yet handed to a provider; every kind ends the claim. $6 is the event's
-- detail; a sent one's, when NULL, is made here from the channel $9 and the job's reason
-- $10 (~80 bytes a message fewer to send: bytes to PostgreSQL cost the worker ~0.1 µs
-- each on loopback, 12% of its CPU before); an attempt's is a note, a `pending` event written only while the message is
-- pending (a note on a sent message would reach the sender's webhook as a second `sent`),
-- so the status an attempt found is read first, under a lock, for attempts only: on the
-- usual batch, all accepted, the statement locks nothing twice.
-- Returns, per message moved, its status after and its attempts since the last replay.
WITH outcome AS (
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
    AS o(id, kind, provider_message_id, provider, reason, detail)
), attempted AS (
  SELECT m.id, m.status FROM messages m
  WHERE m.id IN (SELECT id FROM outcome WHERE kind = 'attempt')
  ORDER BY m.id
  FOR NO KEY UPDATE
), moved AS (
  UPDATE messages m SET
    status = CASE o.kind
      WHEN 'sent' THEN 'sent'
      WHEN 'unknown' THEN 'sent'
      WHEN 'failed' THEN 'failed'
      WHEN 'attempt' THEN CASE WHEN m.attempts + 1 - m.attempts_at_replay >= $8::int THEN 'dead_letter' ELSE m.status END
      ELSE m.status
    END,
    attempts = m.attempts + CASE WHEN o.kind = 'release' THEN 0 ELSE 1 END,
    provider_message_id = CASE WHEN o.kind = 'sent' THEN o.provider_message_id ELSE m.provider_message_id END,
    provider = CASE WHEN o.kind IN ('sent', 'unknown') THEN o.provider ELSE m.provider END,
    provider_call_until = NULL,
    failure_reason = CASE
      WHEN o.kind = 'failed' OR (o.kind = 'attempt' AND m.attempts + 1 - m.attempts_at_replay >= $8::int) THEN o.reason
      ELSE m.failure_reason
    END,
    moved_to_dlq_at = CASE
      WHEN o.kind = 'attempt' AND m.attempts + 1 - m.attempts_at_replay >= $8::int THEN now()
      ELSE m.moved_to_dlq_at
    END,
    updated_at = CASE WHEN o.kind = 'release' THEN m.updated_at ELSE now() END
  FROM outcome o
  LEFT JOIN attempted a ON a.id = o.id
  WHERE m.id = o.id AND CASE
    WHEN o.kind = 'release' THEN m.provider_call_until IS NOT NULL
    WHEN o.kind = 'unknown' THEN m.provider_call_until IS NOT NULL AND m.status = ANY($7::text[])
      AND m.provider_message_id IS NULL AND m.provider IS NULL
    ELSE m.status = ANY($7::text[]) AND m.provider_message_id IS NULL AND m.provider IS NULL
  END
  RETURNING m.id, o.kind, a.status AS was, m.status, m.attempts - m.attempts_at_replay AS used, o.reason,
    COALESCE(o.detail, CASE
      WHEN o.kind <> 'sent' THEN NULL
      WHEN $10 = 'fallback' THEN 'no device acknowledged in time; sent by ' || $9 || ' through ' || o.provider || ' (' || o.provider_message_id || ')'
      ELSE 'accepted by the ' || $9 || ' provider ' || o.provider || ' (' || o.provider_message_id || ')'
    END) AS detail
), logged AS (
  INSERT INTO message_events (message_id, status, detail)
  SELECT id, status, detail FROM (
    SELECT id, status, detail, 1 AS step FROM moved WHERE kind IN ('sent', 'unknown', 'failed')
    UNION ALL
    SELECT id, 'pending', detail, 1 FROM moved WHERE kind = 'attempt' AND was = 'pending'
    UNION ALL
    SELECT id, 'dead_letter', used || ' attempts failed; last: ' || reason, 2 FROM moved WHERE kind = 'attempt' AND status = 'dead_letter'
  ) e
  ORDER BY id, step
)
SELECT id, kind, status, used FROM moved
