import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { LIMITS } from '@esh3ar/contracts';
import { anyMessageStored, messagesByIdempotencyKey, type KeyedMessage } from '@esh3ar/db';
import { bufferedState, removeBuffered, type RedisClient, type RedisKeys, type ReplicaWait } from '@esh3ar/queue';
import type { Queue } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import type { Result } from 'ioredis';
import type pg from 'pg';
import { apiError, unavailable } from './errors.ts';
import { answeredRecord, decodeRecord, encodeTail, type Answer, type IdempotencyRecord } from './idempotency-record.ts';

const CLAIM_LUA = readFileSync(new URL('./lua/idempotency-claim.lua', import.meta.url), 'utf8');
const SETTLE_LUA = readFileSync(new URL('./lua/idempotency-settle.lua', import.meta.url), 'utf8');

declare module 'ioredis' {
  interface RedisCommander<Context> {
    esh3arIdempotencyClaimBuffer(
      record: string,
      since: string,
      nonce: Buffer,
      tail: Buffer,
      leaseMs: number,
      ttlSeconds: number,
      expiredNonce: Buffer,
    ): Result<(number | Buffer)[], Context>;
    esh3arIdempotencySettle(record: string, nonce: Buffer, mode: SettleMode, value: Buffer | ''): Result<number, Context>;
  }
}

type SettleMode = 'commit' | 'forget' | 'abandon' | 'replace';

/** The contract's window: the same key within 24 h answers as the first time. */
const RECORD_TTL_SECONDS = 24 * 60 * 60;
/**
 * A request holds its key's lease across at most one PostgreSQL lookup (cut at 1 s, below)
 * and one enqueue (the api's Redis commands time out at 2 s, packages/queue/src/redis.ts):
 * 10 s is three times that, and all that a request which died costs its key.
 */
const LEASE_MS = 10_000;
/**
 * A repeat that finds a live lease waits for the first request's answer: 5 ms, doubling, at
 * most 1 s in all (9 calls of the claim script). A live first request answers within one
 * enqueue (p99 53 ms under sustained load, docs/benchmarks.md); one still holding
 * the lease after 1 s has stalled or died, and the repeat gets 503 with Retry-After set to
 * the lease's remaining seconds, after which a repeat takes the key over.
 */
const FIRST_WAIT_MS = 5;
const WAIT_BUDGET_MS = 1_000;
/**
 * A lookup reads one index range (0.1 ms over 200,000 keyed rows, EXPLAIN ANALYZE of
 * sql/idempotency-messages.sql): one unanswered after 1 s means PostgreSQL is in trouble,
 * and no request waits longer for it.
 */
const LOOKUP_TIMEOUT_MS = 1_000;

/** The first element of the claim script's reply (lua/idempotency-claim.lua). */
const REPLY = { claimed: 0, answered: 1, leased: 2, expired: 3 } as const;

/** Makes the claim and settle scripts callable on this connection (once per connection). */
export function defineIdempotency(redis: RedisClient): void {
  redis.defineCommand('esh3arIdempotencyClaim', { numberOfKeys: 2, lua: CLAIM_LUA });
  redis.defineCommand('esh3arIdempotencySettle', { numberOfKeys: 1, lua: SETTLE_LUA });
}

/** SHA-256 of the body as JSON: what tells a repeat from another request under the same key. */
export function bodyHash(body: unknown): Buffer {
  let text: string;
  try {
    text = JSON.stringify(body);
  } catch (error) {
    // JSON.parse takes nesting that JSON.stringify's recursion cannot (arrays 400,000 deep fit in a batch's 1 MiB).
    if (error instanceof RangeError) {
      throw apiError('VALIDATION_FAILED', 'the request body is nested too deeply', [
        { path: '/', message: 'the request body is nested too deeply' },
      ]);
    }
    throw error;
  }
  return createHash('sha256').update(text).digest();
}

async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      work,
      sleep(ms, undefined, { signal: timer.signal }).then(() => {
        throw new Error(`no answer within ${ms} ms`);
      }),
    ]);
  } finally {
    timer.abort();
  }
}

interface IdempotencyDeps {
  redis: RedisClient;
  pool: pg.Pool;
  keys: RedisKeys;
  /** The ingest queues: a message is buffered while a job holds the message, not merely while it is indexed. */
  ingestQueues: readonly Queue[];
  /**
   * Waits for the lease's replicas before its request buffers anything (REDIS_WAIT_REPLICAS,
   * @esh3ar/queue's replicaWait on `redis`). On a Cluster the record lives on another master
   * than the messages: one that failed over without the lease would let a repeat of a
   * request answered 503 (whose messages were buffered) take the key again and buffer them twice.
   */
  leaseReplicas?: ReplicaWait;
  /**
   * Resolves once the replicas hold every buffered job (the enqueuer's confirmReplicated):
   * a request that died holding its key, or was answered 503 when its master's replica
   * did not acknowledge its job, may have left that job on the master alone. `queues`: the
   * ingest queues holding them.
   */
  confirmBuffered?: (queues: readonly string[]) => Promise<void>;
}

interface IdempotentRequest {
  tenantId: string;
  key: string;
  bodyHash: Buffer;
  /** The answer this request gives if it is the first: its ids are written before any message is buffered. */
  answer: Answer;
  /** The answer that messages stored under the key gave, or null when they came from another body. */
  fromStored: (stored: readonly KeyedMessage[]) => Answer | null;
  log: FastifyBaseLogger;
}

export type Claim =
  | {
      kind: 'first';
      /** The request's messages are buffered: its answer is the key's. */
      commit: () => Promise<void>;
      /** The request failed: `buffered` false when it certainly wrote nothing, true when its enqueue may have. */
      release: (buffered: boolean) => Promise<void>;
    }
  | { kind: 'replay'; answer: Answer };

const reused = () => apiError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with a different request body');

/**
 * Whether the request that held an expired lease buffered its messages: an id is in the
 * buffer index until a worker stored it, and a worker takes it out only after its COPY
 * committed, so an id in neither place was never buffered. Buffered: the ingest queues
 * holding them (none when they are stored already); false when never buffered.
 */
async function wasBuffered(deps: IdempotencyDeps, tenantId: string, record: IdempotencyRecord): Promise<false | { queues: string[] }> {
  const ids = record.answer.entries.flatMap((e) => ('id' in e ? [e.id] : []));
  if (ids.length === 0) return false;
  const { buffered, indexedWithoutJob, queues } = await bufferedState(deps.redis, deps.ingestQueues, deps.keys, ids);
  if (buffered.length > 0) return { queues };
  // The lease expired: its request's enqueue ended long ago, so an id indexed without a job
  // is one whose enqueue failed after the index write (Redis died between the two). It was
  // never answered 202 and will never be stored: not buffered, and out of the depth.
  if (indexedWithoutJob.length > 0) await removeBuffered(deps.redis, deps.keys, indexedWithoutJob);
  const stored = await within(LOOKUP_TIMEOUT_MS, anyMessageStored(deps.pool, tenantId, ids)).catch((error: unknown) => {
    throw unavailable('the message store', error);
  });
  return stored ? { queues: [] } : false;
}

/**
 * Idempotency-Key, per tenant, for 24 h (docs/api.md). The first request takes a 10 s
 * lease on the key, carrying the ids it is about to buffer, and turns it into the answer
 * once they are buffered; a repeat with the same body gets that answer, with another body a
 * 422. Redis is the record: PostgreSQL is asked only when Redis may have lost records (its
 * `idempotencySince` is under 24 h old), and then the messages the first request stored
 * answer for it. A request that died leaves a lease that expires in 10 s, and whoever finds
 * it checks whether that request's messages were buffered before taking the key.
 */
export async function claimIdempotencyKey(deps: IdempotencyDeps, request: IdempotentRequest): Promise<Claim> {
  const { redis, keys } = deps;
  const record = keys.idempotency(request.tenantId, request.key);
  const nonce = randomBytes(8);
  const tail = encodeTail(request.bodyHash, request.answer);
  const settle = (holder: Buffer, mode: SettleMode, value: Buffer | '' = '') => redis.esh3arIdempotencySettle(record, holder, mode, value);
  let expired: Buffer = Buffer.alloc(0);
  let waited = 0;
  let pause = FIRST_WAIT_MS;
  for (;;) {
    const [kind, found, leftMs] = await redis.esh3arIdempotencyClaimBuffer(
      record,
      keys.idempotencySince(request.tenantId),
      nonce,
      tail,
      LEASE_MS,
      RECORD_TTL_SECONDS,
      expired,
    );
    if (kind === REPLY.claimed) {
      await deps.leaseReplicas?.(record);
      const first: Claim = {
        kind: 'first',
        commit: async () => {
          await settle(nonce, 'commit');
        },
        release: async (buffered) => {
          await settle(nonce, buffered ? 'abandon' : 'forget');
        },
      };
      if ((found as number) >= RECORD_TTL_SECONDS * 1000) return first;
      return (await answerFromStored(deps, request, nonce, settle)) ?? first;
    }
    const held = decodeRecord(found as Buffer);
    if (kind === REPLY.expired) {
      const buffered = await wasBuffered(deps, request.tenantId, held);
      if (!buffered) {
        expired = held.nonce!;
        continue;
      }
      // Its messages are buffered: its answer is the key's, once they are kept (in
      // PostgreSQL already, or by their queues' replicas).
      if (buffered.queues.length > 0) await deps.confirmBuffered?.(buffered.queues);
      await settle(held.nonce!, 'commit');
    }
    if (!held.bodyHash.equals(request.bodyHash)) throw reused();
    if (kind !== REPLY.leased) return { kind: 'replay', answer: held.answer };
    if (waited >= WAIT_BUDGET_MS) {
      throw apiError(
        'UNAVAILABLE',
        'a request with this Idempotency-Key is still in progress; retry after Retry-After seconds',
        [],
        Math.max(1, Math.ceil((leftMs as number) / 1000)),
      );
    }
    await sleep(pause);
    waited += pause;
    pause = Math.min(pause * 2, WAIT_BUDGET_MS - waited);
  }
}

/**
 * Redis may have lost this key's record: the messages the first request stored answer for
 * it. PostgreSQL is no condition of a 202: if it does not answer, the request is taken as
 * the first (a repeat is then stored twice only if Redis lost its records and PostgreSQL is
 * down at once).
 */
async function answerFromStored(
  deps: IdempotencyDeps,
  request: IdempotentRequest,
  nonce: Buffer,
  settle: (holder: Buffer, mode: SettleMode, value?: Buffer) => Promise<number>,
): Promise<Claim | null> {
  let stored: KeyedMessage[];
  try {
    stored = await within(
      LOOKUP_TIMEOUT_MS,
      messagesByIdempotencyKey(deps.pool, request.tenantId, request.key, RECORD_TTL_SECONDS, LIMITS.batchMaxMessages),
    );
  } catch (error) {
    request.log.warn({ err: error }, 'Idempotency-Key not looked up in PostgreSQL; taken as the first request');
    return null;
  }
  if (stored.length === 0) return null;
  const answer = request.fromStored(stored);
  if (answer === null) {
    await settle(nonce, 'forget');
    throw reused();
  }
  await settle(nonce, 'replace', answeredRecord(request.bodyHash, answer));
  return { kind: 'replay', answer };
}
