import type { IngestMetrics } from '@esh3ar/observability';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import { apiError } from './errors.ts';

export interface PressureLimits {
  /** Mean event-loop delay over a 1 s sample; 0 = not checked. */
  maxEventLoopDelayMs: number;
  /** 0 = not checked. */
  maxHeapUsedBytes: number;
  /** 0 = not checked. */
  maxRssBytes: number;
}

// The process sheds for at least one sample (1 s); a retry after 2 s finds the next one.
const PRESSURE_RETRY_AFTER_SECONDS = 2;

/**
 * Sheds the requests of the scope it is registered in (the /v1 message routes, not
 * /health/* or /metrics, nor the admin routes an operator needs to relieve it) with
 * the same 503 OVERLOADED as buffer backpressure, before any work is done for them:
 * no API-key lookup, no Redis call.
 */
export async function registerMemoryPressure(scope: FastifyInstance, limits: PressureLimits, metrics: IngestMetrics): Promise<void> {
  await scope.register(underPressure, {
    maxEventLoopDelay: limits.maxEventLoopDelayMs,
    maxHeapUsedBytes: limits.maxHeapUsedBytes,
    maxRssBytes: limits.maxRssBytes,
    pressureHandler: async (_request, _reply, type, value) => {
      metrics.refused.inc({ reason: 'pressure' });
      throw apiError(
        'OVERLOADED',
        `the api is under pressure (${type} ${Math.round(value ?? 0)}); retry later`,
        [],
        PRESSURE_RETRY_AFTER_SECONDS,
      );
    },
  });
}
