-- Up Migration
-- A tenant's status webhook, and the delivery state the workers share through it.
CREATE TABLE tenant_webhooks (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  url text NOT NULL CHECK (url ~* '^https?://'),
  -- Kept as is: it signs every POST (HMAC), so it cannot be stored as a hash like API keys.
  secret text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- Consecutive failed POSTs: the exponent of the backoff; 0 after a success.
  failures integer NOT NULL DEFAULT 0,
  -- No POST before this (backoff after a failure, or while this endpoint's breaker is open).
  retry_at timestamptz,
  -- One worker at a time delivers a tenant's events: the one holding an unexpired lease.
  -- A released lease keeps its (past) time, so the least recently served tenant goes first.
  leased_until timestamptz,
  lease_token uuid
);

-- Status changes waiting to be POSTed, oldest first per tenant. Rows are deleted once the
-- endpoint answered 2xx; the id is the event's id at the receiver.
CREATE TABLE webhook_outbox (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL,
  message_id uuid NOT NULL,
  status text NOT NULL,
  at timestamptz NOT NULL,
  detail text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_outbox_tenant_id_idx ON webhook_outbox (tenant_id, id);

-- Every status transition writes a message_events row; those a sender is told about are
-- copied here, in the same transaction, for tenants with a webhook. Once per statement
-- over its transition table, not once per row: the gateway and the expiry sweep write
-- events in batches (up to 5000), and one INSERT … SELECT per batch replaces a function
-- call per row. Marking 1000 messages sent then delivered takes ~1.1× as long with this
-- trigger for a tenant without a webhook and ~1.2× for one with a webhook
-- (bench/webhooks/outbox.ts). No foreign key to tenant_webhooks: removing a webhook must
-- never make a status write fail.
CREATE FUNCTION webhook_outbox_from_events() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER message_events_webhook_outbox AFTER INSERT ON message_events
  REFERENCING NEW TABLE AS inserted_events
  FOR EACH STATEMENT EXECUTE FUNCTION webhook_outbox_from_events();

-- A message refused at storage is inserted as failed directly, with no event row. The WHEN
-- clause is checked per row without calling the function: the COPY merge of 1000 pending
-- rows runs at the same rate with and without this trigger (bench/webhooks/outbox.ts).
CREATE FUNCTION webhook_outbox_from_stored_failure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_outbox (tenant_id, message_id, status, at, detail)
  SELECT NEW.tenant_id, NEW.id, 'failed', NEW.stored_at, NEW.failure_reason
  FROM tenant_webhooks w WHERE w.tenant_id = NEW.tenant_id;
  RETURN NULL;
END
$$;
CREATE TRIGGER messages_stored_failed_webhook_outbox AFTER INSERT ON messages
  FOR EACH ROW WHEN (NEW.status = 'failed')
  EXECUTE FUNCTION webhook_outbox_from_stored_failure();

-- Down Migration
DROP TRIGGER messages_stored_failed_webhook_outbox ON messages;
DROP FUNCTION webhook_outbox_from_stored_failure();
DROP TRIGGER message_events_webhook_outbox ON message_events;
DROP FUNCTION webhook_outbox_from_events();
DROP TABLE webhook_outbox;
DROP TABLE tenant_webhooks;
