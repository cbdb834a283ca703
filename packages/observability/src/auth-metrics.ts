import { Counter, type Registry } from 'prom-client';

/** Why the api refused a presented API key (esh3ar_auth_refused_total{reason}). */
export type AuthRefusal = 'missing' | 'malformed' | 'unknown' | 'revoked' | 'disabled';

export function createAuthMetrics(registry: Registry) {
  return {
    refused: new Counter({
      name: 'esh3ar_auth_refused_total',
      help: 'Requests answered 401 by the API key check, by reason (missing, malformed, unknown, revoked, disabled)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    limited: new Counter({
      name: 'esh3ar_auth_limited_total',
      help: 'Requests answered 429 before any key lookup: their client address had too many refused keys in the last minute',
      registers: [registry],
    }),
  };
}
export type AuthMetrics = ReturnType<typeof createAuthMetrics>;
