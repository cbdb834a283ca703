-- A message canceled while it is still only in the buffer: stored at once as `canceled`,
-- with its `canceled` event. ON CONFLICT (id) DO NOTHING against the worker's COPY merge of
-- the same id: the primary key serialises the two, so whichever commits second sees the
-- other. When the worker stored it first, nothing is inserted here (no row returned) and
-- the caller cancels the stored row (cancel-message.sql); when this came first, the
-- worker's merge counts it as a duplicate and does not dispatch it (StoreResult.settled).
-- Parameters: the row's values in COPY_COLUMNS order (copy-encoding.ts).
WITH inserted AS (
  INSERT INTO messages (id, tenant_id, recipient, channel, priority, subject, content, metadata, ttl_seconds,
    expires_at, fallback, fallback_after_seconds, idempotency_key, status, failure_reason, created_at, send_at, held_reason)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
  ON CONFLICT (id) DO NOTHING
  RETURNING id
)
INSERT INTO message_events (message_id, status, detail)
SELECT id, 'canceled', 'canceled by the sender while queued' FROM inserted
RETURNING message_id
