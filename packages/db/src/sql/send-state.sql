SELECT status, provider_message_id, channel, (expires_at IS NOT NULL AND expires_at <= now()) AS expired FROM messages WHERE id = $1
