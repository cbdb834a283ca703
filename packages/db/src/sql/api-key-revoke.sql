-- Revokes key $2 of tenant $1 and logs an api_key_events row under the next seq. No row:
-- no such key for this tenant, or already revoked. The seq row is locked until commit,
-- so concurrent revocations take consecutive seqs in commit order.
WITH revoked AS (
  UPDATE api_keys SET revoked_at = now()
  WHERE id = $2 AND tenant_id = $1 AND revoked_at IS NULL
  RETURNING id, tenant_id, key_hash
), legacy AS (
  -- The column api processes of the previous release read (migration 0008).
  UPDATE tenants SET api_key_hash = NULL
  WHERE api_key_hash IN (SELECT key_hash FROM revoked)
), seq AS (
  UPDATE api_key_event_seq SET last = last + 1
  WHERE EXISTS (SELECT 1 FROM revoked)
  RETURNING last
)
INSERT INTO api_key_events (seq, tenant_id, key_id)
SELECT seq.last, revoked.tenant_id, revoked.id FROM revoked, seq
RETURNING seq, tenant_id, key_id
