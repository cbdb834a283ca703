import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from './buckets.ts';

/* The api's own metrics: its HTTP answers, and the messages it accepts into the buffer or refuses. */

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
  // Each (method, route, status) makes its label objects once; prom-client still hashes
  // them on every inc/observe (its labels() binds them, nothing more). Bounded: routes
  // are the router's patterns ("unmatched" for the rest), methods and statuses few.
  // Looked up by route, method and status in turn: no key string made per request.
  type Series = { answered: Counter.Internal; took: Histogram.Internal<'method' | 'route'> };
  const series = new Map<string, Map<string, Map<number, Series>>>();
  return {
    /** One answered request. */
    answered(method: string, route: string, status: number, seconds: number): void {
      let byMethod = series.get(route);
      if (!byMethod) series.set(route, (byMethod = new Map<string, Map<number, Series>>()));
      let byStatus = byMethod.get(method);
      if (!byStatus) byMethod.set(method, (byStatus = new Map<number, Series>()));
      let s = byStatus.get(status);
      if (!s) {
        s = { answered: requests.labels({ method, route, status: String(status) }), took: duration.labels({ method, route }) };
        byStatus.set(status, s);
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
