import { findApiKey, type ApiKeyMatch, type Tenant } from '@esh3ar/db';
import type pg from 'pg';
import { unavailable } from './errors.ts';

export type KeyVerdict =
  | { kind: 'valid'; tenant: Tenant; keyId: string }
  | { kind: 'disabled'; tenant: Tenant; keyId: string }
  | { kind: 'unknown' }
  | { kind: 'revoked' };

const UNKNOWN: KeyVerdict = { kind: 'unknown' };
const REVOKED: KeyVerdict = { kind: 'revoked' };

export interface KeyCacheOptions {
  /**
   * How long a verified key is answered from memory before PostgreSQL is asked again.
   * Revocations and disabled tenants do not wait for it (KeyEventListener drops the entry
   * within 1 s); what it bounds is a tier or rpm edited in PostgreSQL directly. 30 s: one
   * lookup per key and process every 30 s, as before this cache knew about revocations.
   */
  freshMs: number;
  /**
   * While PostgreSQL cannot be reached, a key verified within this long keeps working:
   * 5 min outlasts a restart or a failover (seconds in the crash tests) without honouring
   * an unverifiable key for ever.
   */
  staleMs: number;
  /** While PostgreSQL fails, a stale key is re-checked at most this often (each try may wait for a connection timeout). */
  retryMs: number;
  /** Verified keys kept; only PostgreSQL's answers enter, so unknown keys cannot evict them. */
  maxKnown: number;
  /**
   * How long an unknown or revoked key is answered from memory. Neither can become valid
   * (keys are 256 random bits, a revocation is final), so the bound is only memory.
   */
  refusedMs: number;
  /** Unknown and revoked keys kept, apart from the verified ones: a flood of them evicts only each other. */
  maxRefused: number;
  clock: () => number;
}

const KEY_CACHE_DEFAULTS: KeyCacheOptions = {
  freshMs: 30_000,
  staleMs: 5 * 60_000,
  retryMs: 1000,
  maxKnown: 10_000,
  refusedMs: 60_000,
  maxRefused: 1000,
  clock: Date.now,
};

interface Known {
  verdict: Extract<KeyVerdict, { kind: 'valid' | 'disabled' }>;
  verifiedAt: number;
  /** Asked again from then on. */
  checkAt: number;
}

function evictOldest(map: Map<string, unknown>, max: number): void {
  while (map.size > max) map.delete(map.keys().next().value!);
}

/**
 * API key → tenant for the api's authentication, with what PostgreSQL said kept in
 * memory: at 20k req/s a PostgreSQL round trip per request would cost more than the
 * whole enqueue. Verified keys and refused keys are kept apart, each bounded. Keys are
 * forgotten when revoked (forgetKey), when their tenant is disabled or enabled
 * (forgetTenant), or all at once when revocations may have been missed (forgetAll).
 */
export function createKeyCache(pool: pg.Pool, options: Partial<KeyCacheOptions> = {}) {
  const o: KeyCacheOptions = { ...KEY_CACHE_DEFAULTS, ...options };
  const known = new Map<string, Known>();
  const refused = new Map<string, { verdict: KeyVerdict; until: number }>();
  const inFlight = new Map<string, Promise<KeyVerdict>>();
  // Bumped by every forget: a lookup that started before it may have read the key before
  // the revocation committed, so its answer is used for its own requests but not kept.
  let generation = 0;

  function keep(key: string, match: ApiKeyMatch | null, now: number): KeyVerdict {
    if (match === null || match.revoked) {
      known.delete(key);
      const verdict = match === null ? UNKNOWN : REVOKED;
      refused.set(key, { verdict, until: now + o.refusedMs });
      evictOldest(refused, o.maxRefused);
      return verdict;
    }
    const verdict = { kind: match.disabled ? 'disabled' : 'valid', tenant: match.tenant, keyId: match.keyId } as const;
    // Re-inserted, so eviction takes the key verified longest ago.
    known.delete(key);
    known.set(key, { verdict, verifiedAt: now, checkAt: now + o.freshMs });
    evictOldest(known, o.maxKnown);
    return verdict;
  }

  async function lookup(key: string): Promise<KeyVerdict> {
    const started = generation;
    let match: ApiKeyMatch | null;
    try {
      match = await findApiKey(pool, key);
    } catch (error) {
      // PostgreSQL unreachable: a key verified recently enough (and not forgotten since) still works.
      const now = o.clock();
      const entry = known.get(key);
      if (entry && now - entry.verifiedAt <= o.staleMs) {
        entry.checkAt = now + o.retryMs;
        return entry.verdict;
      }
      throw unavailable('the API key store', error);
    }
    if (started !== generation) {
      if (match === null || match.revoked) return match === null ? UNKNOWN : REVOKED;
      return { kind: match.disabled ? 'disabled' : 'valid', tenant: match.tenant, keyId: match.keyId };
    }
    return keep(key, match, o.clock());
  }

  function forget(drop: (entry: Known) => boolean): void {
    generation++;
    inFlight.clear();
    for (const [key, entry] of known) if (drop(entry)) known.delete(key);
  }

  return {
    /** The answer from memory, if it is recent enough to give without PostgreSQL. */
    cached(key: string, now: number): KeyVerdict | undefined {
      const entry = known.get(key);
      if (entry !== undefined && now < entry.checkAt) return entry.verdict;
      const no = refused.get(key);
      if (no !== undefined && now < no.until) return no.verdict;
      return undefined;
    },
    /** Verified by this process before and not forgotten since: asking again is no guess. */
    isKnown(key: string): boolean {
      return known.has(key);
    },
    /**
     * PostgreSQL's answer, one query per key however many requests wait for it. Throws
     * UNAVAILABLE when PostgreSQL cannot be reached and the key was not verified within staleMs.
     */
    verify(key: string): Promise<KeyVerdict> {
      let pending = inFlight.get(key);
      if (pending === undefined) {
        const started = lookup(key);
        const done = () => {
          if (inFlight.get(key) === started) inFlight.delete(key);
        };
        started.then(done, done);
        inFlight.set(key, started);
        pending = started;
      }
      return pending;
    },
    /**
     * A revoked key: refused from memory at once (401, no lookup), also while PostgreSQL
     * is down. A revoked key never becomes valid again, so the refusal may outlive
     * refusedMs: it lasts staleMs, as long as a verified key is honoured without PostgreSQL.
     */
    forgetKey(keyId: string): void {
      const now = o.clock();
      for (const [key, entry] of known) {
        if (entry.verdict.keyId !== keyId) continue;
        refused.set(key, { verdict: REVOKED, until: now + Math.max(o.refusedMs, o.staleMs) });
        evictOldest(refused, o.maxRefused);
      }
      forget((entry) => entry.verdict.keyId === keyId);
    },
    forgetTenant(tenantId: string): void {
      forget((entry) => entry.verdict.tenant.id === tenantId);
    },
    /** Every verified key (refused ones stay refused: nothing makes them valid). */
    forgetAll(): void {
      forget(() => true);
    },
  };
}
export type KeyCache = ReturnType<typeof createKeyCache>;
