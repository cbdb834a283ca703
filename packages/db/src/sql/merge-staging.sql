-- The exactly-once step: a retried or duplicated batch finds its ids already there.
INSERT INTO messages
SELECT * FROM message_staging
ORDER BY priority DESC, id
ON CONFLICT (id) DO NOTHING
