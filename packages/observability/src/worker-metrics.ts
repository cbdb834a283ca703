import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from './buckets.ts';

/* The worker's metrics: storing (COPY batches), dispatch, provider sends, webhooks and the retention purge. */

export function createPersistMetrics(registry: Registry) {
  return {
    batches: new Counter({
      name: 'esh3ar_persist_batches_total',
      help: 'COPY batches written, by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    rows: new Counter({
      name: 'esh3ar_persist_rows_total',
      help: 'Messages written to PostgreSQL, by result (stored, duplicate, failed)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'esh3ar_persist_batch_messages',
      help: 'Messages per COPY batch',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000],
      registers: [registry],
    }),
    copyDuration: new Histogram({
      name: 'esh3ar_persist_copy_duration_seconds',
      help: 'Time of one COPY + merge transaction',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    acceptToStored: new Histogram({
      name: 'esh3ar_accept_to_stored_seconds',
      help: 'Time from 202 to the row committed in PostgreSQL, by priority',
      labelNames: ['priority'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    ingestFailures: new Counter({
      name: 'esh3ar_ingest_failures_total',
      help: 'Ingest job attempts whose messages were not stored, by kind (unavailable: PostgreSQL or Redis, retried without limit; refused, fault: up to worker.maxAttempts attempts, then the job is given up)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    // No labels, so that the series exists (at 0) from the start and an alert sees its first step.
    poisonJobs: new Counter({
      name: 'esh3ar_ingest_poison_jobs_total',
      help: 'Ingest jobs given up after worker.maxAttempts failures that were not PostgreSQL or Redis being unavailable; their messages are parked as dead letters',
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'esh3ar_persist_dead_letters_total',
      help: 'Messages the worker stored as dead letters (GET /v1/admin/dlq): refused by PostgreSQL even as failed, or of a poison ingest job',
      registers: [registry],
    }),
    unstorable: new Counter({
      name: 'esh3ar_persist_unstorable_messages_total',
      help: 'Messages of ingest jobs without a usable id: they cannot be stored anywhere and are logged, then removed from the buffer',
      registers: [registry],
    }),
  };
}
export type PersistMetrics = ReturnType<typeof createPersistMetrics>;

export function createDispatchMetrics(registry: Registry) {
  return {
    dispatched: new Counter({
      name: 'esh3ar_dispatch_messages_total',
      help: 'App messages after storage, by outcome (routed to a gateway, offline: waiting for the replay)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    expired: new Counter({
      name: 'esh3ar_messages_expired_total',
      help: 'Messages whose TTL passed before delivery',
      registers: [registry],
    }),
  };
}
export type DispatchMetrics = ReturnType<typeof createDispatchMetrics>;

export function createProviderMetrics(registry: Registry) {
  return {
    outcomes: new Counter({
      name: 'esh3ar_provider_sends_total',
      help: 'Provider sends by channel and outcome, one per message (sent, failed, dead_letter, retry, circuit_open, busy, unknown, skipped)',
      labelNames: ['channel', 'outcome'] as const,
      registers: [registry],
    }),
    breakerState: new Gauge({
      name: 'esh3ar_provider_breaker_state',
      help: 'Circuit breaker per channel and provider: 0 closed, 1 half-open, 2 open',
      labelNames: ['channel', 'provider'] as const,
      registers: [registry],
    }),
    fallbacks: new Counter({
      name: 'esh3ar_fallbacks_scheduled_total',
      help: 'App messages given a provider fallback, by channel',
      labelNames: ['channel'] as const,
      registers: [registry],
    }),
  };
}
export type ProviderMetrics = ReturnType<typeof createProviderMetrics>;

export function createWebhookMetrics(registry: Registry) {
  return {
    deliveries: new Counter({
      name: 'esh3ar_webhook_deliveries_total',
      help: 'Webhook POSTs by outcome (delivered: 2xx; failed: other status, network error or timeout; circuit_open: not tried)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    events: new Counter({
      name: 'esh3ar_webhook_events_delivered_total',
      help: 'Status events acknowledged by a tenant endpoint (2xx)',
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'esh3ar_webhook_request_duration_seconds',
      help: 'Time of one webhook POST, answered or not',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'esh3ar_webhook_outbox_lag_seconds',
      help: 'Age of the oldest status event not yet delivered to its tenant (0: none waiting)',
      registers: [registry],
    }),
    breakersOpen: new Gauge({
      name: 'esh3ar_webhook_breakers_open',
      help: 'Tenant endpoints whose circuit breaker is open in this worker (a count: no tenant label)',
      registers: [registry],
    }),
    // No labels, so that the series exist (at 0) from the start and an alert sees the first step.
    endpointsDisabled: new Gauge({
      name: 'esh3ar_webhook_endpoints_disabled',
      help: 'Tenant endpoints disabled after failing for retention.webhookDisableAfterHours: nothing is POSTed to them until their webhook is set again (read from PostgreSQL: the same in every worker)',
      registers: [registry],
    }),
    eventsDropped: new Counter({
      name: 'esh3ar_webhook_events_dropped_total',
      help: 'Undelivered status events dropped because their failing endpoint had more than retention.webhookBacklogMax waiting (oldest first)',
      registers: [registry],
    }),
  };
}
export type WebhookMetrics = ReturnType<typeof createWebhookMetrics>;

export function createRetentionMetrics(registry: Registry) {
  return {
    deleted: new Counter({
      name: 'esh3ar_retention_deleted_rows_total',
      help: 'Rows deleted by the retention purge, by table (messages and message_events: last change older than retention.days; webhook_outbox: as old, of a tenant without a webhook, or past retention.webhookBacklogMax for a failing endpoint)',
      labelNames: ['table'] as const,
      registers: [registry],
    }),
    runs: new Counter({
      name: 'esh3ar_retention_runs_total',
      help: 'Retention purge runs of this worker, by outcome (done; locked: another worker was purging; failed)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    lastRunDuration: new Gauge({
      name: 'esh3ar_retention_last_run_duration_seconds',
      help: 'Time of the last retention purge this worker ran to the end',
      registers: [registry],
    }),
  };
}
export type RetentionMetrics = ReturnType<typeof createRetentionMetrics>;
