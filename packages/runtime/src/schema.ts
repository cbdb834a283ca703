import { deepFreeze } from '@esh3ar/config';
import { Type, type Static } from 'typebox';

// Every level is closed: a misspelt key ("capacty") is refused, not stored and ignored.
const closed = { additionalProperties: false } as const;

const Tier = Type.Object(
  {
    rpm: Type.Integer({ minimum: 1 }),
    burst: Type.Integer({ minimum: 0 }),
  },
  closed,
);

/** The document operators retune while Esh3ar runs (docs/api.md, runtime configuration). */
export const RuntimeConfig = Type.Object(
  {
    buffer: Type.Object(
      {
        capacity: Type.Integer({ minimum: 1 }),
        highWatermark: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
      },
      closed,
    ),
    rateLimit: Type.Object(
      {
        windowSeconds: Type.Integer({ minimum: 1, maximum: 3600 }),
        tiers: Type.Object({ basic: Tier, premium: Tier, enterprise: Tier }, closed),
        /** GET /v1/messages* per tenant in any 60 s, whatever its tier: reads have their own budget. */
        readsPerMinute: Type.Integer({ minimum: 1 }),
      },
      closed,
    ),
    worker: Type.Object(
      {
        batchSize: Type.Integer({ minimum: 1, maximum: 10_000 }),
        batchTimeoutMs: Type.Integer({ minimum: 1, maximum: 60_000 }),
        maxAttempts: Type.Integer({ minimum: 1, maximum: 100 }),
      },
      closed,
    ),
    breaker: Type.Object(
      {
        failureThreshold: Type.Integer({ minimum: 1 }),
        halfOpenAfterMs: Type.Integer({ minimum: 100 }),
      },
      closed,
    ),
    gateway: Type.Object({ ackTimeoutMs: Type.Integer({ minimum: 100 }) }, closed),
    retention: Type.Object(
      {
        /** Messages (dead letters included) and their events whose last change is older are deleted. At most 10 years. */
        days: Type.Integer({ minimum: 1, maximum: 3650 }),
        /** Undelivered status events kept per failing tenant endpoint; the oldest beyond are dropped. */
        webhookBacklogMax: Type.Integer({ minimum: 1, maximum: 10_000_000 }),
        /** A webhook endpoint that answers nothing 2xx for this long is disabled until it is set again. */
        webhookDisableAfterHours: Type.Integer({ minimum: 1, maximum: 8760 }),
      },
      closed,
    ),
  },
  closed,
);
export type RuntimeConfig = Static<typeof RuntimeConfig>;
export type Tier = keyof RuntimeConfig['rateLimit']['tiers'];
export const TIERS: readonly Tier[] = ['basic', 'premium', 'enterprise'];

/** Version 0: the built-in defaults. */
export const DEFAULT_RUNTIME_CONFIG: RuntimeConfig = deepFreeze({
  buffer: { capacity: 50_000, highWatermark: 0.8 },
  rateLimit: {
    windowSeconds: 60,
    tiers: {
      basic: { rpm: 100, burst: 20 },
      premium: { rpm: 1000, burst: 200 },
      enterprise: { rpm: 10_000, burst: 2000 },
    },
    // The contract's 6000 (100 a second): a dashboard polling 1,000 messages every 10 s
    // uses a sixth of it, and one tenant's reads keep at most one of an api's 10
    // PostgreSQL connections (API_PG_POOL_MAX) busy while a read takes under 10 ms.
    readsPerMinute: 6000,
  },
  // 1000 rows a COPY: throughput flattens above it while the batch's latency keeps growing.
  worker: { batchSize: 1000, batchTimeoutMs: 100, maxAttempts: 8 },
  breaker: { failureThreshold: 5, halfOpenAfterMs: 30_000 },
  gateway: { ackTimeoutMs: 30_000 },
  retention: {
    // The contract's 30 days.
    days: 30,
    // 100,000 events are 22 MiB of webhook_outbox (231 B a row with its indexes, measured),
    // so a thousand dead endpoints hold 22 GiB at most; a recovered endpoint takes them in
    // 1,000 POSTs of 100.
    webhookBacklogMax: 100_000,
    // 3 days: a receiver down from a Friday evening to a Monday morning (~64 h) is not
    // disabled; one that is has been tried ~860 times (every 5 min, WEBHOOK_RETRY_MAX_MS).
    webhookDisableAfterHours: 72,
  },
});
