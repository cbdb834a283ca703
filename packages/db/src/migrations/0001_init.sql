-- Up Migration
CREATE TABLE tenants (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  tier text NOT NULL CHECK (tier IN ('basic', 'premium', 'enterprise')),
  -- SHA-256 of the API key: the key itself is shown once and never stored.
  api_key_hash bytea NOT NULL UNIQUE,
  rpm integer CHECK (rpm > 0),
  burst integer CHECK (burst >= 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- No foreign key to tenants: the api checked the tenant when it accepted the
-- message, and a COPY batch should not probe another index per row.
CREATE TABLE messages (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL,
  recipient text NOT NULL,
  channel text NOT NULL CHECK (channel IN ('app', 'sms', 'whatsapp', 'email')),
  priority smallint NOT NULL CHECK (priority BETWEEN 0 AND 3),
  subject text,
  content text NOT NULL,
  metadata jsonb,
  ttl_seconds integer,
  expires_at timestamptz,
  fallback text,
  fallback_after_seconds integer,
  idempotency_key text,
  status text NOT NULL CHECK (status IN ('queued', 'pending', 'sent', 'delivered', 'failed', 'dead_letter', 'expired')),
  attempts integer NOT NULL DEFAULT 0,
  failure_reason text,
  created_at timestamptz NOT NULL,
  stored_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz
);

-- Ids are UUIDv7 (time-ordered), so "newest first" is "id descending".
CREATE INDEX messages_tenant_id_idx ON messages (tenant_id, id DESC);
CREATE INDEX messages_tenant_status_id_idx ON messages (tenant_id, status, id DESC);

-- Transitions after storage (queued and pending are derived from created_at and stored_at).
CREATE TABLE message_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id uuid NOT NULL,
  status text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  detail text
);
CREATE INDEX message_events_message_id_idx ON message_events (message_id, id);

-- Down Migration
DROP TABLE message_events;
DROP TABLE messages;
DROP TABLE tenants;
