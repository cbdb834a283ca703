-- Up Migration
-- Which provider accepted the message (sim, twilio, meta, smtp): with a channel's
-- failover list, the channel alone no longer says. Set with provider_message_id.
ALTER TABLE messages ADD COLUMN provider text;
-- Receipts (delivery callbacks) name the message by the provider's id: found by this
-- index. Partial: app messages and messages not yet handed to a provider have none.
CREATE INDEX IF NOT EXISTS messages_provider_message_idx ON messages (provider_message_id)
  WHERE provider_message_id IS NOT NULL;

-- Down Migration
DROP INDEX messages_provider_message_idx;
ALTER TABLE messages DROP COLUMN provider;
