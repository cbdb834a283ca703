import { createWebhookMetrics } from '@esh3ar/observability';
import type pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { WebhookDispatcher, type WebhookDispatcherOptions } from './dispatcher.ts';

/** A dispatcher for tests: polls every 20 ms, retries after 10–20 ms, logs nothing, metrics of its own; `options` override. */
export function quickDispatcher(pool: pg.Pool, options: Partial<WebhookDispatcherOptions> = {}): WebhookDispatcher {
  return new WebhookDispatcher({
    pool,
    logger: pino({ level: 'silent' }),
    metrics: createWebhookMetrics(new Registry()),
    timeoutMs: 10_000,
    pollMs: 20,
    retryBaseMs: 10,
    retryMaxMs: 20,
    disableAfterHours: () => 72,
    ...options,
  });
}
