import { createHash } from 'node:crypto';

/**
 * Every Redis key Esh3ar writes starts with REDIS_PREFIX, so several stacks and test
 * runs share one Redis. BullMQ's own keys use the same prefix (`<prefix>:<queue>:…`).
 */
export interface RedisKeys {
  prefix: string;
  /** Hash: the buffer index, every accepted message not yet stored. Read and written through buffer.ts only. */
  bufferIndex: string;
  /** String: one Idempotency-Key's record (apps/api/src/idempotency-record.ts has its layout). */
  idempotency(tenantId: string, key: string): string;
  /**
   * String: the time (ms) since which Redis has held every idempotency record; written when
   * missing, so a Redis that lost its data has a young one (apps/api/src/idempotency.ts).
   */
  idempotencySince: string;
}

export function redisKeys(prefix: string): RedisKeys {
  return {
    prefix,
    bufferIndex: `${prefix}:buffer:index`,
    // Hashed: a key may be 255 arbitrary characters. "idempotency", not the JSON records'
    // former "idem": a record of the older layout is never read, and expires within 24 h.
    idempotency: (tenantId, key) => `${prefix}:idempotency:${tenantId}:${createHash('sha256').update(key).digest('base64url')}`,
    idempotencySince: `${prefix}:idempotency:since`,
  };
}
