-- Claims message $1 for one provider call: it must be in one of the statuses $2, not yet
-- handed to a provider, and not past its TTL. The claim is a lease of $3 ms during which the
-- expiry sweep leaves the message alone; the call's outcome (or its release) ends it.
-- The WHERE names the id only and the decision is made in SET and RETURNING: an UPDATE waits
-- for a transaction holding the row (a DLQ replay that enqueues its jobs before it commits)
-- and then evaluates SET and RETURNING on the row as that transaction left it, whereas a
-- WHERE on the status would be decided on the row as it was before the wait.
-- seconds_left: until expires_at (NULL: no TTL), the provider's validity period.
UPDATE messages SET provider_call_until = CASE
    WHEN status = ANY($2::text[]) AND provider_message_id IS NULL AND (expires_at IS NULL OR expires_at > now())
    THEN now() + make_interval(secs => $3::int / 1000.0)
    ELSE provider_call_until
  END
WHERE id = $1
RETURNING
  status = ANY($2::text[]) AND provider_message_id IS NULL AND (expires_at IS NULL OR expires_at > now()) AS claimed,
  EXTRACT(EPOCH FROM expires_at - now())::float8 AS seconds_left
