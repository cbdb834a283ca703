/**
 * @esh3ar/observability — how every Esh3ar process reports on itself: the pino
 * logger factory, the prom-client registry (Node process metrics included) and the
 * definitions of Esh3ar's own metrics, so each name is declared once.
 */
export { createLogger } from './logger.ts';
export { createRegistry } from './registry.ts';
export {
  createDispatchMetrics,
  createGatewayMetrics,
  createHttpMetrics,
  createIngestMetrics,
  createPersistMetrics,
  createProviderMetrics,
  createRuntimeConfigMetrics,
  type DispatchMetrics,
  type GatewayMetrics,
  type HttpMetrics,
  type IngestMetrics,
  type PersistMetrics,
  type ProviderMetrics,
  type RuntimeConfigMetrics,
} from './metrics.ts';
