import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One registry per process, with Node's own metrics (heap, event-loop lag, GC) under
 * esh3ar_, and the two ceilings the "memory near its limit" alerts divide by.
 */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'esh3ar_' });
  // Gauges named *_total break Prometheus' naming rules (promtool check metrics refuses
  // them); each is the sum of the by-type gauge beside it (esh3ar_nodejs_active_handles, …).
  for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total'])
    registry.removeSingleMetric(`esh3ar_nodejs_${name}`);
  new Gauge({
    name: 'esh3ar_process_memory_limit_bytes',
    help: 'Memory this process may use: its cgroup limit (container, pod), else the machine’s memory',
    registers: [registry],
  }).set(memoryLimitBytes());
  new Gauge({
    name: 'esh3ar_nodejs_heap_size_limit_bytes',
    help: 'V8 heap limit (--max-old-space-size or its default); past it the process dies with a fatal out-of-memory error',
    registers: [registry],
  }).set(getHeapStatistics().heap_size_limit);
  return registry;
}

/** process.constrainedMemory() is 0 or 2^64 without a cgroup limit: the machine's memory is the ceiling then. */
function memoryLimitBytes(): number {
  const constrained = process.constrainedMemory();
  return constrained > 0 && constrained < totalmem() ? constrained : totalmem();
}
