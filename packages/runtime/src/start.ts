import { createRuntimeConfigMetrics } from '@esh3ar/observability';
import type { Registry } from 'prom-client';
import { RuntimeConfigWatcher, type WatcherOptions } from './watcher.ts';

/**
 * How every long-running process follows the runtime configuration: a watcher named
 * after the service, whose applied version is the gauge esh3ar_runtime_config_version.
 */
export function watchRuntimeConfig(
  service: string,
  registry: Registry,
  options: Omit<WatcherOptions, 'connectionName' | 'onChange'>,
): Promise<RuntimeConfigWatcher> {
  const metrics = createRuntimeConfigMetrics(registry);
  return RuntimeConfigWatcher.start({
    ...options,
    connectionName: `esh3ar-${service}-config`,
    onChange: ({ version }) => metrics.version.set(version),
  });
}
