-- Up Migration
-- The durable half of Idempotency-Key. Redis holds each key's answer for 24 h; when Redis
-- has lost its records (a restart without its AOF, a FLUSHALL, a replica promoted without
-- them), the api recognises a repeat by the messages the first request stored: every row
-- carries its request's key (copy-encoding.ts), and sql/idempotency-messages.sql finds
-- them by tenant and key. Partial: only keyed messages are indexed. Not unique: every
-- message of a batch carries the batch's one key. created_at last, so that the earliest
-- request under a key is read from the index alone.
-- A plain CREATE INDEX holds writes to messages while it reads the whole table, as 0009's
-- did (1M rows in 0.9 s, bench/storage/retention.ts); on a large table build it by hand with
-- CONCURRENTLY under this name first, and IF NOT EXISTS skips it here.
CREATE INDEX IF NOT EXISTS messages_idempotency_idx ON messages (tenant_id, idempotency_key, created_at)
  WHERE idempotency_key IS NOT NULL;

-- Down Migration
DROP INDEX messages_idempotency_idx;
