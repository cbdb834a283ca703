/**
 * @esh3ar/runtime — the runtime configuration while Esh3ar runs: the one place that
 * merges a change over the newest version, checks the whole document and stores it as
 * the next version (used by the admin API and the CLI alike), and the watcher every
 * process runs to apply a new version within 2 seconds without a restart (a Redis
 * notification, and a re-read of PostgreSQL every second in case one is missed).
 */
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
