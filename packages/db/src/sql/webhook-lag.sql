-- Age in seconds of the oldest event not yet delivered (0: none waiting).
SELECT COALESCE(EXTRACT(EPOCH FROM now() - (SELECT created_at FROM webhook_outbox ORDER BY id LIMIT 1)), 0)::float8 AS lag
