-- The seq of the newest committed api_key_events row (0: none yet).
SELECT last FROM api_key_event_seq
