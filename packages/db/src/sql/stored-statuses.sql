-- The stored statuses of a batch's rows when some were already stored (a retried batch,
-- a message canceled while queued): the stored row decides whether a row is dispatched.
SELECT id, status FROM messages WHERE id = ANY($1::uuid[])
