import type { ApiLimitMetrics } from '@esh3ar/observability';
import type { FastifyInstance } from 'fastify';

/** API_*_TIMEOUT_MS (config.ts says why each default). */
export interface HttpTimeouts {
  headersMs: number;
  requestMs: number;
  keepAliveMs: number;
  connectionMs: number;
}

/**
 * Fastify's options for Node's HTTP server to enforce `timeouts`. A client past the
 * headers or request timeout is answered 408 and disconnected; one silent past the
 * connection timeout while its request is open is disconnected.
 */
export function timeoutOptions(timeouts: HttpTimeouts) {
  return {
    requestTimeout: timeouts.requestMs,
    connectionTimeout: timeouts.connectionMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    http: {
      headersTimeout: timeouts.headersMs,
      // Node checks the headers and request timeouts in a sweep over the open
      // connections, every 30 s by default: a 10 s limit would hold for up to 40 s. Once
      // a second (or at the headers timeout, if shorter) keeps each within a second.
      connectionsCheckingInterval: Math.min(1000, timeouts.headersMs),
    },
  };
}

/** esh3ar_api_limit_refusals_total{limit="request_timeout" | "idle_timeout"}. */
export function countTimeouts(app: FastifyInstance, metrics: ApiLimitMetrics): void {
  // Node's code for a headers or request timeout; Fastify's own listener answers it.
  app.server.on('clientError', (error: NodeJS.ErrnoException) => {
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') metrics.refused.inc({ limit: 'request_timeout' });
  });
  // Only a request in flight: an idle keep-alive connection closing is no refusal.
  app.addHook('onTimeout', async () => {
    metrics.refused.inc({ limit: 'idle_timeout' });
  });
}
