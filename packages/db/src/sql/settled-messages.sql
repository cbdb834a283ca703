-- Which of these ids no longer need pushing (acknowledged elsewhere, expired, or gone).
SELECT id FROM messages WHERE id = ANY($1::uuid[]) AND (status NOT IN ('pending', 'sent') OR provider_message_id IS NOT NULL)
