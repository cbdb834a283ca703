import { createHash } from 'node:crypto';

/**
 * Every Redis key Esh3ar writes starts with REDIS_PREFIX, so several stacks and test
 * runs share one Redis. BullMQ's own keys use the same prefix (`<prefix>:<queue>:…`).
 */
export interface RedisKeys {
  prefix: string;
  /** Hash: message id → "<tenantId> <jobId>" for every accepted message not yet stored. HLEN is the buffer depth. */
  bufferIndex: string;
  idempotency(tenantId: string, key: string): string;
}

export function redisKeys(prefix: string): RedisKeys {
  return {
    prefix,
    bufferIndex: `${prefix}:buffer:index`,
    // Hashed: a key may be 255 arbitrary characters.
    idempotency: (tenantId, key) => `${prefix}:idem:${tenantId}:${createHash('sha256').update(key).digest('base64url')}`,
  };
}
