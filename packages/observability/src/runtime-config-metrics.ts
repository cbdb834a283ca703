import { Gauge, type Registry } from 'prom-client';

/** The runtime configuration version this process applies: every process reports it. */
export function createRuntimeConfigMetrics(registry: Registry) {
  return {
    version: new Gauge({
      name: 'esh3ar_runtime_config_version',
      help: 'Runtime configuration version this process applies (-1: not read yet, running on its environment)',
      registers: [registry],
    }),
  };
}
export type RuntimeConfigMetrics = ReturnType<typeof createRuntimeConfigMetrics>;
