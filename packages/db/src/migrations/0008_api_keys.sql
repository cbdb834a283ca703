-- Up Migration
-- A tenant holds any number of API keys, each revocable on its own (the README's Operations).
-- Only the SHA-256 of a key is stored: keys are 256 random bits, shown once.
CREATE TABLE api_keys (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  key_hash bytea NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Written by the api processes in batches (at most one UPDATE per process every 30 s),
  -- so it can lag the last request by that much.
  last_used_at timestamptz,
  -- Revoked keys are kept (who held which key, and when it stopped) but never match again.
  revoked_at timestamptz
);
CREATE INDEX api_keys_tenant_id_idx ON api_keys (tenant_id, created_at, id);

-- Every existing tenant's key keeps working: it becomes that tenant's first key.
INSERT INTO api_keys (id, tenant_id, key_hash, created_at)
SELECT gen_random_uuid(), id, api_key_hash, created_at FROM tenants;

-- tenants.api_key_hash stays for one release, for api processes of the previous release
-- still running during a rolling upgrade (they read only this column). New tenants leave
-- it empty, and revoking a key clears it there too (sql/api-key-revoke.sql), so an old
-- process refuses a revoked key as well. The release after next drops it.
ALTER TABLE tenants ALTER COLUMN api_key_hash DROP NOT NULL;

-- A disabled tenant's keys are refused (401) until it is enabled again.
ALTER TABLE tenants ADD COLUMN disabled_at timestamptz;
-- GET /v1/admin/tenants pages newest first.
CREATE INDEX tenants_created_at_idx ON tenants (created_at DESC, id DESC);

-- Changes to who may authenticate, in commit order: a key revoked (key_id set) or a
-- tenant disabled or enabled (key_id null). Every api process drops its cached answers
-- when told on Redis, and reads this log every second in case it was not told (a
-- notification lost while its subscriber reconnected, or one never published because
-- Redis refused the revoking process). seq has no gaps and follows commit order (it comes
-- from api_key_event_seq, whose single row each writer locks until it commits), so a
-- reader that has seen seq N has seen every change up to N. A few rows a day: kept.
CREATE TABLE api_key_events (
  seq bigint PRIMARY KEY,
  tenant_id uuid NOT NULL,
  key_id uuid,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE api_key_event_seq (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  last bigint NOT NULL
);
INSERT INTO api_key_event_seq (last) VALUES (0);

-- Down Migration
DROP TABLE api_key_event_seq;
DROP TABLE api_key_events;
DROP INDEX tenants_created_at_idx;
ALTER TABLE tenants DROP COLUMN disabled_at;
UPDATE tenants t SET api_key_hash = k.key_hash
FROM (SELECT DISTINCT ON (tenant_id) tenant_id, key_hash FROM api_keys WHERE revoked_at IS NULL ORDER BY tenant_id, created_at) k
WHERE t.id = k.tenant_id AND t.api_key_hash IS NULL;
-- A tenant left without a usable key gets one nobody holds: still no key works for it.
UPDATE tenants SET api_key_hash = sha256(convert_to(gen_random_uuid()::text, 'UTF8')) WHERE api_key_hash IS NULL;
ALTER TABLE tenants ALTER COLUMN api_key_hash SET NOT NULL;
DROP TABLE api_keys;
