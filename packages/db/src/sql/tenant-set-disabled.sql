-- Disables ($2 true) or enables ($2 false) tenant $1. A change logs an api_key_events row
-- (key_id null: the whole tenant) under the next seq; asking for the state the tenant is
-- already in changes and logs nothing. No row: no such tenant.
WITH changed AS (
  UPDATE tenants SET disabled_at = CASE WHEN $2::boolean THEN now() END
  WHERE id = $1 AND (disabled_at IS NOT NULL) <> $2::boolean
  RETURNING id, name, tier, rpm, burst, created_at
), seq AS (
  UPDATE api_key_event_seq SET last = last + 1
  WHERE EXISTS (SELECT 1 FROM changed)
  RETURNING last
), logged AS (
  INSERT INTO api_key_events (seq, tenant_id)
  SELECT seq.last, changed.id FROM changed, seq
  RETURNING seq
)
SELECT id, name, tier, rpm, burst, $2::boolean AS disabled, created_at, (SELECT seq FROM logged) AS event_seq
FROM changed
UNION ALL
-- Unchanged: already in that state (or brought to it by a concurrent call), so $2 is its state.
SELECT id, name, tier, rpm, burst, $2::boolean, created_at, NULL
FROM tenants
WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM changed)
