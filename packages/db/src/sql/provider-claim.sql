-- Claims messages $1 for one call each to provider $4, a lease of $3 ms during which the
-- expiry sweep leaves them alone and no other job calls them; the call's outcome
-- (sql/provider-outcome.sql) ends it. Per message, `state`:
--   claimed    in one of the statuses $2, not handed to a provider, not past its TTL, and
--              no call of it in progress: call it
--   done       nothing to send any more (handed over, refused, expired, replay rolled back…)
--   busy       another call of it is in progress (call_ms_left: until its lease ends)
--   unknown    an earlier call of it never ended: its claim lapsed with no outcome (the
--              worker stopped), to a provider not among $5, which would send it again
--   elsewhere  the same, to a provider among $5 other than $4 (earlier_provider): only
--              that provider recognises the repeat, so only it may be called
-- A lapsed call to $4 itself, if $4 is among $5 (the providers that de-duplicate on our
-- message id), is claimed again: the provider answers the repeat with the same id.
-- Rows are locked in id order first, so two claims sharing ids (a job run twice) cannot
-- deadlock; a claim waits for a transaction holding a row (a DLQ replay that enqueues its
-- jobs before it commits) and decides on the row as that transaction left it.
-- seconds_left: until expires_at (NULL: no TTL), the provider's validity period.
WITH target AS (
  SELECT id, status, provider_message_id, provider, expires_at, provider_call_until, provider_call_to
  FROM messages
  WHERE id = ANY($1::uuid[])
  ORDER BY id
  FOR NO KEY UPDATE
), decided AS (
  SELECT id, expires_at, provider_call_until, provider_call_to,
    CASE
      WHEN NOT (status = ANY($2::text[]) AND provider_message_id IS NULL AND provider IS NULL
                AND (expires_at IS NULL OR expires_at > now())) THEN 'done'
      WHEN provider_call_until > now() THEN 'busy'
      WHEN provider_call_until IS NULL THEN 'claimed'
      WHEN provider_call_to = $4 AND $4 = ANY($5::text[]) THEN 'claimed'
      WHEN provider_call_to = ANY($5::text[]) THEN 'elsewhere'
      ELSE 'unknown'
    END AS state
  FROM target
), claimed AS (
  UPDATE messages m
  SET provider_call_until = now() + make_interval(secs => $3::int / 1000.0), provider_call_to = $4
  FROM decided d
  WHERE m.id = d.id AND d.state = 'claimed'
)
SELECT
  id,
  state,
  provider_call_to AS earlier_provider,
  EXTRACT(EPOCH FROM expires_at - now())::float8 AS seconds_left,
  (EXTRACT(EPOCH FROM provider_call_until - now()) * 1000)::float8 AS call_ms_left
FROM decided
