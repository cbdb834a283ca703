-- Up Migration
-- The retention purge (sql/retention-messages.sql) takes the oldest last changes first,
-- 1000 at a time; without this index every batch would scan the whole table.
-- A plain CREATE INDEX (the migrations run in one transaction, which CONCURRENTLY cannot)
-- holds writes to messages while it builds: ~0.4 s per million rows here (1.4 million in
-- 570 ms, bench/storage/retention.ts), so a table of tens of millions wants a quiet moment, or the
-- index built by hand with CONCURRENTLY under this name beforehand (IF NOT EXISTS skips it).
CREATE INDEX IF NOT EXISTS messages_updated_at_idx ON messages (updated_at);

ALTER TABLE tenant_webhooks
  -- The first failed POST since the last success (NULL: the endpoint answers, or was never tried).
  ADD COLUMN failing_since timestamptz,
  -- Set when the endpoint has failed for retention.webhookDisableAfterHours without a success:
  -- no POST is tried until the webhook is set again (PUT …/webhook, `tenant webhook set`).
  ADD COLUMN disabled_at timestamptz;

-- An endpoint already failing when this runs starts its failure window now.
UPDATE tenant_webhooks SET failing_since = now() WHERE failures > 0;

-- Down Migration
ALTER TABLE tenant_webhooks DROP COLUMN disabled_at, DROP COLUMN failing_since;
DROP INDEX messages_updated_at_idx;
