-- One staging table per connection; ON COMMIT DELETE ROWS empties it after each batch.
CREATE TEMP TABLE IF NOT EXISTS message_staging (LIKE messages INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
