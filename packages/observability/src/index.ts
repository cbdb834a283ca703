/**
 * @esh3ar/observability — how every Esh3ar process reports on itself: the pino
 * logger factory, the prom-client registry (Node process metrics included) and the
 * definitions of Esh3ar's own metrics, so each name is declared once: the BullMQ job
 * counts and PostgreSQL statement timings among them; the answer to /health/ready from
 * named checks with timeouts; and the shutdown that closes a process's parts in order,
 * logging the steps that fail.
 */
export { createLogger } from './logger.ts';
export { createRegistry } from './registry.ts';
export { readiness, within, type ReadinessCheck } from './readiness.ts';
export { closeInOrder, type CloseStep } from './close-in-order.ts';
export { createQueueMetrics, type CountedQueue } from './queue-metrics.ts';
export { createAuthMetrics, type AuthMetrics, type AuthRefusal } from './auth-metrics.ts';
export { createReceiptMetrics, type ReceiptMetrics } from './receipt-metrics.ts';
export { createStatementObserver, type StatementOptions } from './statement-metrics.ts';
export {
  API_LIMITS,
  createApiLimitMetrics,
  createRedisDurabilityMetrics,
  type ApiLimit,
  type ApiLimitMetrics,
  type RedisDurabilityMetrics,
} from './limit-metrics.ts';
export { createHttpMetrics, createIngestMetrics, type HttpMetrics, type IngestMetrics } from './api-metrics.ts';
export {
  createDispatchMetrics,
  createPersistMetrics,
  createProviderMetrics,
  createRetentionMetrics,
  createWebhookMetrics,
  type DispatchMetrics,
  type PersistMetrics,
  type ProviderMetrics,
  type RetentionMetrics,
  type WebhookMetrics,
} from './worker-metrics.ts';
export { createGatewayMetrics, type GatewayMetrics } from './gateway-metrics.ts';
export { createSchedulingMetrics, type SchedulingMetrics } from './scheduling-metrics.ts';
export { createRuntimeConfigMetrics, type RuntimeConfigMetrics } from './runtime-config-metrics.ts';
