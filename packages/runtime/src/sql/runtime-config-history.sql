SELECT version, config, changed_at, changed_by
FROM runtime_config_versions
ORDER BY version DESC
LIMIT $1
