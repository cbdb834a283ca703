import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

// Latency buckets in seconds: acceptance is expected in single milliseconds, the
// 500 ms promise sits between 0.25 and 1.
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createHttpMetrics(registry: Registry) {
  const requests = new Counter({
    name: 'esh3ar_http_requests_total',
    help: 'HTTP requests answered, by route and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'esh3ar_http_request_duration_seconds',
    help: 'Time from request to response, by route',
    labelNames: ['method', 'route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  // prom-client hashes a label object on every call; at 20k answers/s each (method,
  // route, status) finds its two series by one string instead. Bounded: routes are
  // the router's patterns ("unmatched" for the rest), methods and statuses few.
  const series = new Map<string, { answered: Counter.Internal; took: Histogram.Internal<'method' | 'route'> }>();
  return {
    /** One answered request. */
    answered(method: string, route: string, status: number, seconds: number): void {
      const key = `${method} ${route} ${status}`;
      let s = series.get(key);
      if (!s) {
        s = { answered: requests.labels({ method, route, status: String(status) }), took: duration.labels({ method, route }) };
        series.set(key, s);
      }
      s.answered.inc();
      s.took.observe(seconds);
    },
  };
}
export type HttpMetrics = ReturnType<typeof createHttpMetrics>;

export function createIngestMetrics(registry: Registry) {
  return {
    accepted: new Counter({
      name: 'esh3ar_messages_accepted_total',
      help: 'Messages answered 202, by priority',
      labelNames: ['priority'] as const,
      registers: [registry],
    }),
    refused: new Counter({
      name: 'esh3ar_messages_refused_total',
      help: 'Messages refused, by reason (validation, rate_limit, backpressure, pressure, auth, unavailable, idempotency)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    enqueueBatchSize: new Histogram({
      name: 'esh3ar_enqueue_batch_messages',
      help: 'Messages per Redis write of the api (coalesced per event-loop tick)',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500],
      registers: [registry],
    }),
    enqueueDuration: new Histogram({
      name: 'esh3ar_enqueue_duration_seconds',
      help: 'Time of one coalesced Redis write',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    bufferDepth: new Gauge({
      name: 'esh3ar_buffer_depth_messages',
      help: 'Accepted messages not yet stored in PostgreSQL, as last read by this process',
      registers: [registry],
    }),
    bufferCapacity: new Gauge({
      name: 'esh3ar_buffer_capacity_messages',
      help: 'Configured buffer capacity',
      registers: [registry],
    }),
  };
}
export type IngestMetrics = ReturnType<typeof createIngestMetrics>;

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

export function createGatewayMetrics(registry: Registry) {
  return {
    connections: new Gauge({
      name: 'esh3ar_gateway_connections',
      help: 'Open device connections on this gateway',
      registers: [registry],
    }),
    pushes: new Counter({
      name: 'esh3ar_gateway_pushes_total',
      help: 'Message frames sent to devices, by kind (live, replay, retry)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    acks: new Counter({
      name: 'esh3ar_gateway_acks_total',
      help: 'Acknowledgements received, by result (delivered: first ack; repeat: already acknowledged)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    ackLatency: new Histogram({
      name: 'esh3ar_gateway_ack_latency_seconds',
      help: 'Time from the first push of a message to its ack',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    acceptToDevice: new Histogram({
      name: 'esh3ar_accept_to_device_seconds',
      help: 'Time from 202 to the first push to a device, by priority',
      labelNames: ['priority'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    frameErrors: new Counter({
      name: 'esh3ar_gateway_frame_errors_total',
      help: 'Frames from devices that could not be used, by code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    rejectedUpgrades: new Counter({
      name: 'esh3ar_gateway_rejected_upgrades_total',
      help: 'WebSocket upgrades refused (bad, forged or expired token)',
      registers: [registry],
    }),
    statusWritesPending: new Gauge({
      name: 'esh3ar_gateway_status_writes_pending',
      help: 'Statuses taken and not yet written to PostgreSQL, by kind (delivered: acks; sent: pushes)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    statusWriteFailures: new Counter({
      name: 'esh3ar_gateway_status_write_failures_total',
      help: 'Status writes (one UPDATE each) that PostgreSQL did not take; they are tried again',
      registers: [registry],
    }),
    backPressure: new Gauge({
      name: 'esh3ar_gateway_back_pressure',
      help: '1 while pending status writes are at their cap: device sockets are not read and nothing is pushed',
      registers: [registry],
    }),
    replaysWaiting: new Gauge({
      name: 'esh3ar_gateway_replays_waiting',
      help: 'Connections whose replay waits for a turn (a few run at once) or for PostgreSQL to answer again',
      registers: [registry],
    }),
    replayFailures: new Counter({
      name: 'esh3ar_gateway_replay_failures_total',
      help: 'Replays that could not read PostgreSQL; each is tried again without closing the connection',
      registers: [registry],
    }),
    upgradesRefused: new Counter({
      name: 'esh3ar_gateway_upgrades_refused_total',
      help: 'WebSocket upgrades refused, by reason (token: 401; token_keys: 503, the issuer keys could not be fetched; phone_connections: 429; gateway_connections: 503)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    badFrameCloses: new Counter({
      name: 'esh3ar_gateway_bad_frame_closes_total',
      help: 'Connections closed with 1008 for sending more than GATEWAY_MAX_BAD_FRAMES bad frames in 10 s',
      registers: [registry],
    }),
    slowReaderPauses: new Counter({
      name: 'esh3ar_gateway_slow_reader_pauses_total',
      help: 'Times a connection held more than GATEWAY_SLOW_READER_BYTES unread: pushes to it stopped until its socket drained',
      registers: [registry],
    }),
    slowReaderCloses: new Counter({
      name: 'esh3ar_gateway_slow_reader_closes_total',
      help: 'Connections closed with 1013 for not draining within GATEWAY_SLOW_READER_CLOSE_MS',
      registers: [registry],
    }),
    slowReaders: new Gauge({
      name: 'esh3ar_gateway_slow_readers',
      help: 'Connections holding more than GATEWAY_SLOW_READER_BYTES unread: nothing is pushed to them until their socket drains',
      registers: [registry],
    }),
  };
}
export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;

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

export function createProviderMetrics(registry: Registry) {
  return {
    outcomes: new Counter({
      name: 'esh3ar_provider_sends_total',
      help: 'Provider send jobs by channel and outcome (sent, failed, dead_letter, retry, circuit_open, skipped)',
      labelNames: ['channel', 'outcome'] as const,
      registers: [registry],
    }),
    breakerState: new Gauge({
      name: 'esh3ar_provider_breaker_state',
      help: 'Circuit breaker per provider channel: 0 closed, 1 half-open, 2 open',
      labelNames: ['channel'] as const,
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
