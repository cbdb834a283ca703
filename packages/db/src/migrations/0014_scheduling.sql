-- Up Migration
-- Scheduled send, cancel and quiet hours.
--
-- Two statuses join the graph of 0006:
--   scheduled  stored, waiting for its send_at (a requested sendAt, or a tenant's quiet
--              hours); released to pending at that time by the workers' release loop
--   canceled   final: taken back by its sender (DELETE /v1/messages/{id}, bulk cancel)
-- and these edges:
--   queued → scheduled                   as storage stores it (sendAt ahead, or quiet hours)
--   scheduled → pending | canceled | expired | failed | dead_letter
--   pending → scheduled                  held for quiet hours at release
--   pending → canceled
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check CHECK (
  status IN ('queued', 'scheduled', 'pending', 'sent', 'delivered', 'failed', 'dead_letter', 'expired', 'canceled')
);

-- When a scheduled message goes out (NULL: as soon as stored), and why it waits when it
-- is not the sender's own sendAt (quiet hours, in words for the message view).
ALTER TABLE messages ADD COLUMN send_at timestamptz, ADD COLUMN held_reason text;

-- The release loop reads, per priority from critical down, the due rows oldest first:
-- one range scan per priority, however many are scheduled later.
CREATE INDEX messages_scheduled_idx ON messages (priority, send_at, id) WHERE status = 'scheduled';

-- The expiry sweep also expires a scheduled message whose TTL passes while quiet hours hold
-- it: it does not go out late.
DROP INDEX messages_expiring_idx;
CREATE INDEX messages_expiring_idx ON messages (expires_at)
  WHERE expires_at IS NOT NULL AND status IN ('scheduled', 'pending', 'sent') AND provider_message_id IS NULL;

DROP TRIGGER messages_status_graph ON messages;
CREATE TRIGGER messages_status_graph BEFORE UPDATE OF status ON messages
  FOR EACH ROW
  WHEN (
    OLD.status IS DISTINCT FROM NEW.status
    AND NOT (
      (OLD.status = 'queued' AND NEW.status IN ('scheduled', 'pending', 'failed', 'dead_letter'))
      OR (OLD.status = 'scheduled' AND NEW.status IN ('pending', 'canceled', 'expired', 'failed', 'dead_letter'))
      OR (OLD.status = 'pending' AND NEW.status IN ('scheduled', 'sent', 'delivered', 'failed', 'dead_letter', 'expired', 'canceled'))
      OR (OLD.status = 'sent' AND NEW.status IN ('delivered', 'failed', 'dead_letter'))
      OR (OLD.status = 'sent' AND NEW.status = 'expired' AND NEW.channel = 'app' AND NEW.provider_message_id IS NULL)
      OR (OLD.status = 'dead_letter' AND NEW.status = 'pending')
    )
  )
  EXECUTE FUNCTION messages_status_off_graph();

-- canceled reaches status webhooks like the other changes a sender is told about.
CREATE OR REPLACE FUNCTION webhook_outbox_from_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_outbox (tenant_id, message_id, status, at, detail)
  SELECT m.tenant_id, e.message_id, e.status, e.at, e.detail
  FROM inserted_events e
  JOIN messages m ON m.id = e.message_id
  JOIN tenant_webhooks w ON w.tenant_id = m.tenant_id
  WHERE e.status IN ('sent', 'delivered', 'failed', 'dead_letter', 'expired', 'canceled')
  ORDER BY e.id;
  RETURN NULL;
END
$$;

-- A tenant's quiet hours: messages below critical that would go out between starts and
-- ends, in the recipient's local time, are held as scheduled until ends. The zone comes
-- from the phone number's country; default_time_zone serves a country with several
-- zones, and email recipients.
CREATE TABLE tenant_quiet_hours (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  starts time NOT NULL,
  ends time NOT NULL CHECK (ends <> starts),
  default_time_zone text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE tenant_quiet_hours;
CREATE OR REPLACE FUNCTION webhook_outbox_from_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_outbox (tenant_id, message_id, status, at, detail)
  SELECT m.tenant_id, e.message_id, e.status, e.at, e.detail
  FROM inserted_events e
  JOIN messages m ON m.id = e.message_id
  JOIN tenant_webhooks w ON w.tenant_id = m.tenant_id
  WHERE e.status IN ('sent', 'delivered', 'failed', 'dead_letter', 'expired')
  ORDER BY e.id;
  RETURN NULL;
END
$$;
DROP TRIGGER messages_status_graph ON messages;
CREATE TRIGGER messages_status_graph BEFORE UPDATE OF status ON messages
  FOR EACH ROW
  WHEN (
    OLD.status IS DISTINCT FROM NEW.status
    AND OLD.status IN ('queued', 'pending', 'sent', 'delivered', 'failed', 'dead_letter', 'expired')
    AND NEW.status IN ('queued', 'pending', 'sent', 'delivered', 'failed', 'dead_letter', 'expired')
    AND NOT (
      (OLD.status = 'queued' AND NEW.status IN ('pending', 'failed', 'dead_letter'))
      OR (OLD.status = 'pending' AND NEW.status IN ('sent', 'delivered', 'failed', 'dead_letter', 'expired'))
      OR (OLD.status = 'sent' AND NEW.status IN ('delivered', 'failed', 'dead_letter'))
      OR (OLD.status = 'sent' AND NEW.status = 'expired' AND NEW.channel = 'app' AND NEW.provider_message_id IS NULL)
      OR (OLD.status = 'dead_letter' AND NEW.status = 'pending')
    )
  )
  EXECUTE FUNCTION messages_status_off_graph();
DROP INDEX messages_scheduled_idx;
DROP INDEX messages_expiring_idx;
CREATE INDEX messages_expiring_idx ON messages (expires_at)
  WHERE expires_at IS NOT NULL AND status IN ('pending', 'sent') AND provider_message_id IS NULL;
ALTER TABLE messages DROP COLUMN held_reason, DROP COLUMN send_at;
DELETE FROM messages WHERE status IN ('scheduled', 'canceled');
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check CHECK (
  status IN ('queued', 'pending', 'sent', 'delivered', 'failed', 'dead_letter', 'expired')
);
