INSERT INTO runtime_config_versions (version, config, changed_by)
VALUES ($1, $2, $3)
RETURNING version, config, changed_at, changed_by
