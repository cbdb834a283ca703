-- Up Migration
-- Every version of the runtime configuration, never updated or deleted: the history
-- operators read and roll back to. Each version holds the whole document.
CREATE TABLE runtime_config_versions (
  version integer PRIMARY KEY CHECK (version >= 0),
  -- NULL: the built-in defaults as each process reads them (with its BUFFER_* and
  -- WORKER_BATCH_* environment), for version 0 and for a rollback to it.
  config jsonb CHECK (config IS NULL OR jsonb_typeof(config) = 'object'),
  changed_at timestamptz NOT NULL DEFAULT now(),
  changed_by text NOT NULL
);
INSERT INTO runtime_config_versions (version, config, changed_by) VALUES (0, NULL, 'defaults');

-- Down Migration
DROP TABLE runtime_config_versions;
