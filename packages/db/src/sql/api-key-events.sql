-- Changes to who may authenticate after seq $1, in order, at most $2.
SELECT seq, tenant_id, key_id FROM api_key_events WHERE seq > $1 ORDER BY seq LIMIT $2
