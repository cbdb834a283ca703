/**
 * @esh3ar/runtime — the runtime configuration, the settings operators retune while
 * Esh3ar runs: its document (schema, built-in defaults as version 0, the environment's
 * buffer and batch overrides, the check that names every problem), its versions in
 * PostgreSQL (sql/runtime-config-*.sql), the one place that merges a change over the
 * newest version, checks the whole document and stores it as the next version (used by
 * the admin API and the CLI alike), and the watcher every process runs to apply a new
 * version within 2 seconds without a restart (a Redis notification, and a re-read of
 * PostgreSQL every second in case one is missed).
 */
export { DEFAULT_RUNTIME_CONFIG, RuntimeConfig, TIERS, type Tier } from './schema.ts';
export { runtimeConfigFromEnv } from './from-env.ts';
export type { RuntimeConfigProblem } from './check.ts';
/** Stores a version without announcing it (bench/runtime-config/propagation.ts measures the poll alone). */
export { appendRuntimeConfig } from './versions.ts';
export {
  changeRuntimeConfig,
  configChannel,
  readRuntimeConfig,
  rollbackRuntimeConfig,
  runtimeConfigVersions,
  type ConfigChange,
  type ConfigHistoryItem,
  type ConfigStore,
  type VersionedConfig,
} from './change.ts';
export { mergeDocument, patchAt, RuntimeConfigError } from './document.ts';
export { RuntimeConfigWatcher, type AppliedConfig, type WatcherOptions } from './watcher.ts';
export { watchRuntimeConfig } from './start.ts';
