import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

const POOL_BYTES = 4096;

/**
 * UUIDv7 message ids, time-ordered so that "newest first" is an index scan.
 * uuid's own v7() asks the OS for 16 random bytes per id (crypto.getRandomValues):
 * 4.6% of the api's CPU under load (bench/ingest/profile-api.ts). Here the bytes come from a
 * pool refilled 4 KiB at a time, and the ids stay monotonic within the process as
 * uuid's do (RFC 9562 §6.2 method 1): within one millisecond a 31-bit counter,
 * seeded from the random bytes, counts up; on overflow the time moves on by 1 ms.
 */
export function createMessageIds(clock: () => number = Date.now): () => string {
  const pool = Buffer.allocUnsafe(POOL_BYTES);
  let offset = POOL_BYTES;
  let msecs = -Infinity;
  let seq = 0;
  return function nextMessageId(): string {
    if (offset === POOL_BYTES) {
      randomFillSync(pool);
      offset = 0;
    }
    const random = pool.subarray(offset, (offset += 16));
    const now = clock();
    if (now > msecs) {
      msecs = now;
      seq = ((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!;
    } else {
      seq = (seq + 1) | 0;
      if (seq === 0) msecs++;
    }
    return v7({ random, msecs, seq });
  };
}
