import { Type, type Static } from 'typebox';
import { deepFreeze } from './env.ts';

// Every level is closed: a misspelt key ("capacty") is refused, not stored and ignored.
const closed = { additionalProperties: false } as const;

const Tier = Type.Object(
  {
    rpm: Type.Integer({ minimum: 1 }),
    burst: Type.Integer({ minimum: 0 }),
  },
  closed,
);

/** The document operators retune while Esh3ar runs (CONTRACT.md "Runtime configuration"). */
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
  },
  // 1000 rows a COPY: throughput flattens above it while the batch's latency keeps growing.
  worker: { batchSize: 1000, batchTimeoutMs: 100, maxAttempts: 8 },
  breaker: { failureThreshold: 5, halfOpenAfterMs: 30_000 },
  gateway: { ackTimeoutMs: 30_000 },
});
