-- Holds scheduled messages $1 (locked by this transaction, schedule-due.sql) for quiet
-- hours: each waits until $2, for the reason $3 (the message view's heldReason). The
-- status stays scheduled, so no event is written: the view's sendAt and heldReason say it.
UPDATE messages m SET send_at = h.until, held_reason = h.reason, updated_at = now()
FROM unnest($1::uuid[], $2::timestamptz[], $3::text[]) AS h (id, until, reason)
WHERE m.id = h.id AND m.status = 'scheduled'
