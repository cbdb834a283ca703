-- Row-by-row fallback when a COPY batch holds a row PostgreSQL refuses.
INSERT INTO messages (id, tenant_id, recipient, channel, priority, subject, content, metadata, ttl_seconds,
  expires_at, fallback, fallback_after_seconds, idempotency_key, status, failure_reason, created_at, send_at, held_reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
ON CONFLICT (id) DO NOTHING
