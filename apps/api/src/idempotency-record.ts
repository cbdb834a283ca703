/**
 * One Idempotency-Key's record in Redis: what a replay needs and nothing more, in bytes.
 *
 *   answered  'D' · tail
 *   leased    'L' · deadline (13 decimal digits: ms, Redis's clock) · nonce (8 bytes) · tail
 *   tail      SHA-256 of the body (32 bytes) · acceptedAt (6 bytes: ms, as in a UUIDv7)
 *             · one 16-byte entry per message of the request, in order: its id (the UUID's
 *             bytes), or 15 zero bytes and why it was refused (1 VALIDATION_FAILED, 2 OVERLOADED)
 *
 * So a single message's answer is 55 bytes and a 1,000-message batch's 16,039, which
 * with the key and Redis's structures MEMORY USAGE reports as 216 and 16,536 bytes under
 * REDIS_PREFIX "esh3ar" (the JSON records before: 251 and 76,017 bytes, 392 and 82,056;
 * idempotency.int.test.ts). A refusal's wording is not kept: the same body gives the same
 * words again. The Lua scripts (lua/idempotency-*.lua) read the state, deadline and nonce
 * at these offsets.
 */

type Refusal = 'VALIDATION_FAILED' | 'OVERLOADED';
export type Entry = { id: string } | { refused: Refusal };

/** What a request was answered, per message: enough to answer it again. */
export interface Answer {
  acceptedAt: string;
  entries: Entry[];
}

export interface IdempotencyRecord {
  bodyHash: Buffer;
  answer: Answer;
  /** The lease's holder while one holds it; null once answered. */
  nonce: Buffer | null;
}

const HASH_BYTES = 32;
const TIME_BYTES = 6;
const ENTRY_BYTES = 16;
const LEASE_HEADER_BYTES = 1 + 13 + 8;
const REFUSALS: readonly Refusal[] = ['VALIDATION_FAILED', 'OVERLOADED'];

export function encodeTail(bodyHash: Buffer, answer: Answer): Buffer {
  const tail = Buffer.alloc(HASH_BYTES + TIME_BYTES + ENTRY_BYTES * answer.entries.length);
  bodyHash.copy(tail, 0);
  tail.writeUIntBE(Date.parse(answer.acceptedAt), HASH_BYTES, TIME_BYTES);
  answer.entries.forEach((entry, i) => {
    const at = HASH_BYTES + TIME_BYTES + ENTRY_BYTES * i;
    if ('id' in entry) tail.write(entry.id.replaceAll('-', ''), at, ENTRY_BYTES, 'hex');
    else tail[at + ENTRY_BYTES - 1] = REFUSALS.indexOf(entry.refused) + 1;
  });
  return tail;
}

/** An answered record, as Redis keeps it. */
export function answeredRecord(bodyHash: Buffer, answer: Answer): Buffer {
  return Buffer.concat([Buffer.from('D'), encodeTail(bodyHash, answer)]);
}

function decodeEntry(bytes: Buffer): Entry {
  if (bytes.subarray(0, ENTRY_BYTES - 1).every((b) => b === 0)) {
    return { refused: REFUSALS[bytes[ENTRY_BYTES - 1]! - 1] ?? 'VALIDATION_FAILED' };
  }
  const hex = bytes.toString('hex');
  return { id: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` };
}

export function decodeRecord(value: Buffer): IdempotencyRecord {
  const leased = value[0] === 0x4c; // 'L'
  const tail = value.subarray(leased ? LEASE_HEADER_BYTES : 1);
  const entries: Entry[] = [];
  for (let at = HASH_BYTES + TIME_BYTES; at + ENTRY_BYTES <= tail.length; at += ENTRY_BYTES) {
    entries.push(decodeEntry(tail.subarray(at, at + ENTRY_BYTES)));
  }
  return {
    bodyHash: tail.subarray(0, HASH_BYTES),
    answer: { acceptedAt: new Date(tail.readUIntBE(HASH_BYTES, TIME_BYTES)).toISOString(), entries },
    nonce: leased ? value.subarray(LEASE_HEADER_BYTES - 8, LEASE_HEADER_BYTES) : null,
  };
}
