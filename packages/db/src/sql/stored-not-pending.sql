-- Of these ids (a batch's pending rows, some already stored), those stored in another status:
-- canceled while queued, or scheduled by an earlier try of the batch. They are not dispatched.
SELECT id FROM messages WHERE id = ANY($1::uuid[]) AND status <> 'pending'
