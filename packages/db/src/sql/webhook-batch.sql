-- A tenant's oldest waiting events, in the order their transitions were written; none
-- unless lease $3 still has $4 ms to run. A POST that starts with that much lease left is
-- aborted by its timeout before the lease ends, so no other worker can POST this tenant's
-- events meanwhile.
SELECT o.id, o.message_id, o.status, o.at, o.detail
FROM webhook_outbox o
WHERE o.tenant_id = $1
  AND EXISTS (
    SELECT 1 FROM tenant_webhooks w
    WHERE w.tenant_id = $1 AND w.lease_token = $3 AND w.leased_until > now() + make_interval(secs => $4::int / 1000.0)
  )
ORDER BY o.id
LIMIT $2
