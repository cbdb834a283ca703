-- last_used_at of many keys at once ($1 ids, $2 times); never moved back by a late writer.
UPDATE api_keys k SET last_used_at = u.at
FROM unnest($1::uuid[], $2::timestamptz[]) AS u (id, at)
WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)
