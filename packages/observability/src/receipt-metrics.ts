import { Counter, type Registry } from 'prom-client';

/** The providers whose delivery receipts the api takes, and what became of each receipt. */
const RECEIPT_PROVIDERS = ['twilio', 'meta'] as const;
const RECEIPT_RESULTS = ['applied', 'unknown', 'stale', 'early', 'forged'] as const;

export function createReceiptMetrics(registry: Registry) {
  const receipts = new Counter({
    name: 'esh3ar_provider_receipts_total',
    help:
      'Delivery receipts from providers, by provider and result (applied: a sent message became delivered or failed; ' +
      'unknown: no message has that provider id; stale: no news for a known message, already final or a status that moves nothing; ' +
      'early: kept until the worker records the provider id; forged: a request refused 401 for its signature, counted once per request)',
    labelNames: ['provider', 'result'] as const,
    registers: [registry],
  });
  // Every series from the start (at 0), so that a rate or an alert sees the first one.
  for (const provider of RECEIPT_PROVIDERS) for (const result of RECEIPT_RESULTS) receipts.inc({ provider, result }, 0);
  return { receipts };
}
export type ReceiptMetrics = ReturnType<typeof createReceiptMetrics>;
