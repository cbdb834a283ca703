SELECT version, config, changed_at, changed_by
FROM runtime_config_versions
WHERE version = $1
