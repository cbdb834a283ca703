-- Whether any of the ids $2 of tenant $1 is stored: the test that tells a request which
-- died after buffering its messages (and a worker stored them) from one that never did.
SELECT EXISTS (SELECT 1 FROM messages WHERE tenant_id = $1 AND id = ANY($2::uuid[])) AS stored
