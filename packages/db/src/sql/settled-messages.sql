-- Which of these ids no longer need pushing (acknowledged elsewhere, expired, gone, or
-- handed to a provider: its provider set, even when the call's outcome is unknown).
SELECT id FROM messages WHERE id = ANY($1::uuid[]) AND (status NOT IN ('pending', 'sent') OR provider_message_id IS NOT NULL OR provider IS NOT NULL)
