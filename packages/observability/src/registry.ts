import { Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process, with Node's own metrics (heap, event-loop lag, GC) under esh3ar_. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'esh3ar_' });
  return registry;
}
