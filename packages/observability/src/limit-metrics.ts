import { Counter, Gauge, type Registry } from 'prom-client';

/** The api's protective limits, as esh3ar_api_limit_refusals_total{limit} names them. */
export const API_LIMITS = ['reads', 'request_timeout', 'idle_timeout', 'queue_board_write'] as const;
export type ApiLimit = (typeof API_LIMITS)[number];

export function createApiLimitMetrics(registry: Registry) {
  const refused = new Counter({
    name: 'esh3ar_api_limit_refusals_total',
    help:
      'Requests and connections the api refused at a limit, by limit (reads: 429, the tenant is over rateLimit.readsPerMinute; ' +
      'request_timeout: 408 and closed, headers or body not received within API_HEADERS_TIMEOUT_MS / API_REQUEST_TIMEOUT_MS; ' +
      'idle_timeout: closed, nothing sent or read for API_CONNECTION_TIMEOUT_MS; queue_board_write: 405, a queue board action while QUEUE_BOARD_WRITE is off)',
    labelNames: ['limit'] as const,
    registers: [registry],
  });
  // Every series from the start (at 0), so that a rate or an alert sees the first refusal.
  for (const limit of API_LIMITS) refused.inc({ limit }, 0);
  return { refused };
}
export type ApiLimitMetrics = ReturnType<typeof createApiLimitMetrics>;

export function createRedisDurabilityMetrics(registry: Registry) {
  return {
    volatile: new Gauge({
      name: 'esh3ar_redis_volatile',
      help: '1 while this process runs on a Redis that can lose accepted messages (appendonly off or an evicting maxmemory-policy), which only ALLOW_VOLATILE_BUFFER=on permits; 0 once its Redis was found durable',
      registers: [registry],
    }),
  };
}
export type RedisDurabilityMetrics = ReturnType<typeof createRedisDurabilityMetrics>;
