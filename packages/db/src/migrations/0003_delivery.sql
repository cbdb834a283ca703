-- Up Migration
-- Replay on connect: a phone's unacknowledged app messages, highest priority first, oldest first.
CREATE INDEX messages_app_unacked_idx ON messages (recipient, priority DESC, id)
  WHERE channel = 'app' AND status IN ('pending', 'sent');

-- The expiry sweep only looks at messages that can still expire.
CREATE INDEX messages_expiring_idx ON messages (expires_at)
  WHERE expires_at IS NOT NULL AND status IN ('pending', 'sent');

-- Down Migration
DROP INDEX messages_expiring_idx;
DROP INDEX messages_app_unacked_idx;
