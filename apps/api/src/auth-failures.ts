import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import type { RedisClient } from '@esh3ar/queue';

const AUTH_FAILURES_LUA = readFileSync(new URL('./lua/auth-failures.lua', import.meta.url), 'utf8');

declare module 'ioredis' {
  interface RedisCommander<Context> {
    esh3arAuthAttempt(
      key: string,
      now: number,
      windowMs: number,
      limit: number,
      attemptId: string,
      mode: 'attempt' | 'refusal',
    ): import('ioredis').Result<[number, number], Context>;
  }
}

/**
 * Past 20 refused keys in a minute from one address, 429. A guess at a
 * 256-bit key cannot succeed; what the limit protects is PostgreSQL, which a lookup per
 * random key would otherwise serve at whatever rate the attacker sends.
 */
const FAILED_AUTH_LIMITS = { limit: 20, windowMs: 60_000 };

/** Let through: settle it with the verdict (a real key frees its slot; a refused one keeps it for the window). */
export type Attempt = { admitted: true; settle(refused: boolean): Promise<void> } | { admitted: false; retryAfterSeconds: number };
export type Refusal = { admitted: true } | { admitted: false; retryAfterSeconds: number };

// While only held attempts fill the window, a new one waits for their verdicts: a lookup
// takes a few milliseconds, so 8 tries from 10 ms, doubling, cover ~2.5 s of them.
const WAIT_FIRST_MS = 10;
const WAIT_TRIES = 8;

/**
 * The address a client is limited by: an IPv4 address, or the /64 of an IPv6 address (a
 * subscriber's network is usually a whole /64, which per-address counting would turn
 * into 2^64 budgets). IPv4-mapped IPv6 addresses count as the IPv4 address.
 */
export function clientBucket(ip: string): string {
  const address = ip.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  // A dotted IPv4 tail (64:ff9b::192.0.2.1) stands for two groups.
  const rightGroups = right.length + (right.at(-1)?.includes('.') ? 1 : 0);
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - rightGroups).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/**
 * Failed-authentication limiter shared by every api process (one sorted set per client
 * address in Redis, `<prefix>:auth-fail:<address>`, owned by this module): an attacker
 * spreading requests over N processes gets the same 20 a minute as with one, and a
 * restart forgets nothing. Only attempts that may reach PostgreSQL ask it, so a known
 * key costs no Redis command here.
 */
export function authFailureLimiter(redis: RedisClient, prefix: string, limits: { limit: number; windowMs: number } = FAILED_AUTH_LIMITS) {
  redis.defineCommand('esh3arAuthAttempt', { numberOfKeys: 1, lua: AUTH_FAILURES_LUA });
  const bucketKey = (ip: string) => `${prefix}:auth-fail:${clientBucket(ip)}`;
  return {
    /**
     * Before work whose key may be refused: let through (entered as a refusal until
     * released), or refused with the seconds until the address may try again. Rejects
     * when Redis does.
     */
    async attempt(ip: string): Promise<Attempt> {
      const key = bucketKey(ip);
      const id = randomUUID();
      for (let wait = WAIT_FIRST_MS, tries = 0; ; wait *= 2, tries++) {
        const [outcome, waitMs] = await redis.esh3arAuthAttempt(key, Date.now(), limits.windowMs, limits.limit, id, 'attempt');
        if (outcome === 0) return { admitted: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
        if (outcome === 1) {
          return {
            admitted: true,
            settle: async (refused) => {
              const settling = redis.multi().zrem(key, `h:${id}`);
              if (refused) settling.zadd(key, Date.now(), `r:${id}`).pexpire(key, limits.windowMs);
              await settling.exec();
            },
          };
        }
        // Held attempts of others fill the window: real keys among them free their slots.
        if (tries === WAIT_TRIES) return { admitted: false, retryAfterSeconds: 1 };
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    },
    /** A key refused without a lookup (known unknown, over-long): counted, or 429 when the address is over. */
    async refusal(ip: string): Promise<Refusal> {
      const [outcome, waitMs] = await redis.esh3arAuthAttempt(
        bucketKey(ip),
        Date.now(),
        limits.windowMs,
        limits.limit,
        randomUUID(),
        'refusal',
      );
      return outcome === 1 ? { admitted: true } : { admitted: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
    },
  };
}
export type AuthFailureLimiter = ReturnType<typeof authFailureLimiter>;
