/**
 * @esh3ar/observability — how every Esh3ar process reports on itself: the pino
 * logger factory, the prom-client registry (Node process metrics included) and the
 * definitions of Esh3ar's own metrics, so each name is declared once: the BullMQ job
 * counts and PostgreSQL statement timings among them.
 */
export { createLogger } from './logger.ts';
export { createRegistry } from './registry.ts';
export { createQueueMetrics, type CountedQueue } from './queue-metrics.ts';
export { createAuthMetrics, type AuthMetrics, type AuthRefusal } from './auth-metrics.ts';
export { createStatementObserver, type StatementOptions } from './statement-metrics.ts';
export {
  API_LIMITS,
  createApiLimitMetrics,
  createRedisDurabilityMetrics,
  type ApiLimit,
  type ApiLimitMetrics,
  type RedisDurabilityMetrics,
} from './limit-metrics.ts';
export {
  createDispatchMetrics,
  createGatewayMetrics,
  createHttpMetrics,
  createIngestMetrics,
  createPersistMetrics,
  createProviderMetrics,
  createRetentionMetrics,
  createRuntimeConfigMetrics,
  createWebhookMetrics,
  type DispatchMetrics,
  type GatewayMetrics,
  type HttpMetrics,
  type IngestMetrics,
  type PersistMetrics,
  type ProviderMetrics,
  type RetentionMetrics,
  type RuntimeConfigMetrics,
  type WebhookMetrics,
} from './metrics.ts';
