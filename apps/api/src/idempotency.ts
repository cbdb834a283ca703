import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { apiError } from './errors.ts';

const TTL_SECONDS = 24 * 60 * 60;
const SETTLE_POLL_MS = 5;
const SETTLE_TIMEOUT_MS = 3000;

interface Record {
  bodyHash: string;
  /** reserved: the first request is still writing; done: `response` is its answer. */
  state: 'reserved' | 'done';
  response?: unknown;
  location?: string;
}

export type Claim =
  | { kind: 'first'; commit: (response: unknown, location?: string) => Promise<void>; release: () => Promise<void> }
  | { kind: 'replay'; response: unknown; location?: string };

export function bodyHash(body: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(body);
  } catch (error) {
    // JSON.parse takes nesting that JSON.stringify's recursion cannot (arrays 400,000 deep fit in a batch's 1 MiB).
    if (error instanceof RangeError) {
      throw apiError('VALIDATION_FAILED', 'the request body is nested too deeply', [{ path: '/', message: 'the request body is nested too deeply' }]);
    }
    throw error;
  }
  return createHash('sha256').update(text).digest('base64url');
}

/**
 * Idempotency-Key, per tenant, for 24 h. The first request reserves the key (SET NX)
 * before it writes; a repeat with the same body gets the first answer, with another
 * body a 422. A repeat that arrives while the first is still writing waits for its
 * outcome, so it never reports an id that was not stored.
 */
export async function claimIdempotencyKey(redis: Redis, key: string, hash: string): Promise<Claim> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const reserved = await redis.set(key, JSON.stringify({ bodyHash: hash, state: 'reserved' } satisfies Record), 'EX', TTL_SECONDS, 'NX');
    if (reserved === 'OK') {
      return {
        kind: 'first',
        commit: async (response, location) => {
          const record: Record = { bodyHash: hash, state: 'done', response, ...(location ? { location } : {}) };
          await redis.set(key, JSON.stringify(record), 'EX', TTL_SECONDS);
        },
        release: async () => {
          await redis.del(key);
        },
      };
    }
    const raw = await redis.get(key);
    if (raw === null) continue; // the first request gave up between our SET and GET: try again
    const record = JSON.parse(raw) as Record;
    if (record.bodyHash !== hash) {
      throw apiError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with a different request body');
    }
    if (record.state === 'done') {
      return { kind: 'replay', response: record.response, ...(record.location ? { location: record.location } : {}) };
    }
    if (Date.now() > deadline) {
      throw apiError('UNAVAILABLE', 'a request with this Idempotency-Key is still in progress', [], 1);
    }
    await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
  }
}
