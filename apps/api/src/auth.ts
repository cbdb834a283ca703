import type { Tenant } from '@esh3ar/db';
import { createAuthMetrics, type AuthMetrics, type AuthRefusal } from '@esh3ar/observability';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { authFailureLimiter, type Attempt, type AuthFailureLimiter, type Refusal } from './auth-failures.ts';
import { apiError, unavailable, type ApiError } from './errors.ts';
import { createKeyCache, type KeyCache, type KeyVerdict } from './key-cache.ts';
import { KeyRevocationListener } from './key-revocation.ts';
import { KeyUsageRecorder } from './key-usage.ts';
import type { RedisClient } from '@esh3ar/queue';

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant whose API key the request carried: set by the onRequest hook, before any route runs. */
    tenant: Tenant | null;
  }
}

/** Longer than any key this api issues (`esh_` + 43 characters): refused without a lookup. */
const MAX_KEY_CHARS = 200;

export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

const MESSAGES: Record<AuthRefusal, string> = {
  missing: 'missing API key: send Authorization: Bearer <apiKey>',
  malformed: 'invalid API key',
  unknown: 'invalid API key',
  revoked: 'this API key has been revoked',
  disabled: 'this tenant is disabled',
};

export interface AuthParts {
  cache: KeyCache;
  failures: AuthFailureLimiter;
  usage: KeyUsageRecorder;
  metrics: AuthMetrics;
}

/**
 * The onRequest hook of /v1/messages*: the tenant of the bearer key, or 401 with
 * `WWW-Authenticate: Bearer` (RFC 6750). A key this process verified recently is answered
 * from memory. Any other key may cost a PostgreSQL lookup, so it first asks the
 * failed-authentication limiter of its client address, and past 20 refused keys in a
 * minute the answer is 429 before any database work. A key this process verified before
 * (whose entry is only due for a re-check) is no guess and skips the limiter, so an
 * attacker sharing a NAT address does not lock out the tenants behind it.
 */
const STORE_DOWN_PAUSE_MS = 1000;

export function authenticate(parts: AuthParts) {
  const { cache, failures, usage, metrics } = parts;

  function refuse(reply: FastifyReply, reason: AuthRefusal): ApiError {
    metrics.refused.inc({ reason });
    const message = MESSAGES[reason];
    reply.header(
      'www-authenticate',
      reason === 'missing' ? 'Bearer realm="esh3ar"' : `Bearer realm="esh3ar", error="invalid_token", error_description="${message}"`,
    );
    return apiError('UNAUTHENTICATED', message);
  }

  function limited(attempt: { retryAfterSeconds: number }): ApiError {
    metrics.limited.inc();
    return apiError(
      'RATE_LIMITED',
      `too many refused API keys from this address; retry in ${attempt.retryAfterSeconds} s`,
      [],
      attempt.retryAfterSeconds,
    );
  }

  function admit(request: FastifyRequest, reply: FastifyReply, verdict: KeyVerdict, now: number): void {
    if (verdict.kind === 'valid') {
      request.tenant = verdict.tenant;
      usage.touch(verdict.keyId, now);
      return;
    }
    throw refuse(reply, verdict.kind);
  }

  /** A refusal that cost no lookup, counted against the address (or 429 if it is already over). */
  async function refuseCounted(request: FastifyRequest, reply: FastifyReply, reason: 'malformed' | 'unknown' | 'revoked'): Promise<never> {
    let counted: Refusal;
    try {
      counted = await failures.refusal(request.ip);
    } catch {
      // Redis unreachable: this refusal goes uncounted, and no database work depends on it.
      throw refuse(reply, reason);
    }
    if (!counted.admitted) throw limited(counted);
    throw refuse(reply, reason);
  }

  // Requests that bring one key this process has not verified yet share its limiter slot
  // and its lookup: a new sender's first burst (200 requests at once, say) is one
  // refused-key candidate for its address, not 200, and costs one query.
  const firstLookups = new Map<string, Promise<KeyVerdict>>();
  // After a lookup found PostgreSQL unreachable, keys not verified yet get 503 without a
  // lookup until this time: a flood of new keys during an outage costs one connection
  // attempt a second per process, not one each.
  let storeDownUntil = 0;

  async function checkNewKey(request: FastifyRequest, key: string): Promise<KeyVerdict> {
    let attempt: Attempt;
    try {
      attempt = await failures.attempt(request.ip);
    } catch (error) {
      // Fail closed: without the limiter, a flood of new keys would each reach PostgreSQL.
      throw unavailable('the failed-authentication limiter', error);
    }
    if (!attempt.admitted) throw limited(attempt);
    if (Date.now() < storeDownUntil) {
      // PostgreSQL failed another lookup while this one waited for its slot.
      settleQuietly(request, attempt, false);
      throw unavailable('the API key store', new Error('PostgreSQL unreachable at the last lookup'));
    }
    let verdict: KeyVerdict;
    try {
      verdict = await cache.verify(key);
    } catch (error) {
      // PostgreSQL unreachable: the key is not known to be refused, so its slot is freed
      // (tenants behind one address must not be limited once PostgreSQL is back), and
      // lookups of unverified keys pause for a second instead (storeDown).
      settleQuietly(request, attempt, false);
      storeDownUntil = Date.now() + STORE_DOWN_PAUSE_MS;
      throw error;
    }
    // Only unknown and revoked keys count against the address; a disabled tenant's key is a real key.
    settleQuietly(request, attempt, verdict.kind !== 'valid' && verdict.kind !== 'disabled');
    return verdict;
  }

  /**
   * A callback hook: a key this process verified recently (nearly every request) is
   * admitted at once, with no promise and no microtask; the rest return a promise, which
   * Fastify awaits instead (it awaits whatever a hook returns that has a `then`). A throw
   * is answered as the error.
   */
  return function onRequest(request: FastifyRequest, reply: FastifyReply, done: () => void): Promise<void> | undefined {
    const key = bearerToken(request);
    if (key === null) throw refuse(reply, 'missing');
    if (key.length > MAX_KEY_CHARS) return refuseCounted(request, reply, 'malformed');
    const now = Date.now();
    const cached = cache.cached(key, now);
    if (cached === undefined) return verifyThenAdmit(request, reply, key, now);
    if (cached.kind === 'unknown' || cached.kind === 'revoked') return refuseCounted(request, reply, cached.kind);
    admit(request, reply, cached, now);
    done();
    return undefined;
  };

  async function verifyThenAdmit(request: FastifyRequest, reply: FastifyReply, key: string, now: number): Promise<void> {
    if (cache.isKnown(key)) return admit(request, reply, await cache.verify(key), now);

    if (now < storeDownUntil) throw unavailable('the API key store', new Error('PostgreSQL unreachable at the last lookup'));
    let first = firstLookups.get(key);
    if (first === undefined) {
      first = checkNewKey(request, key).finally(() => firstLookups.delete(key));
      firstLookups.set(key, first);
    }
    return admit(request, reply, await first, now);
  }
}

function settleQuietly(request: FastifyRequest, attempt: Extract<Attempt, { admitted: true }>, refused: boolean): void {
  // Not settled, the attempt stays held and counts as one refused key for a minute: the safe side.
  attempt.settle(refused).catch((error: Error) => request.log.debug({ err: error }, 'failed-authentication slot not settled'));
}

export interface ApiKeyAuthDeps {
  pool: pg.Pool;
  /** The request connection: limiter scripts run on it; the revocation subscriber is a duplicate. */
  redis: RedisClient;
  prefix: string;
  registry: Registry;
  logger: FastifyBaseLogger;
}

/**
 * API-key authentication on every route of `app`: the key cache, the failed-
 * authentication limiter, the last-use recorder and the revocation listener, closed
 * with the app (the listener first, then a last write of key usage, before main ends the pool).
 */
export function registerApiKeyAuth(app: FastifyInstance, deps: ApiKeyAuthDeps): void {
  const cache = createKeyCache(deps.pool);
  const usage = new KeyUsageRecorder(deps.pool, deps.logger);
  const revocations = KeyRevocationListener.start({ redis: deps.redis, pool: deps.pool, prefix: deps.prefix, cache, logger: deps.logger });
  const failures = authFailureLimiter(deps.redis, deps.prefix);
  app.decorateRequest('tenant', null);
  app.addHook('onRequest', authenticate({ cache, failures, usage, metrics: createAuthMetrics(deps.registry) }));
  app.addHook('onClose', async () => {
    await revocations
      .close()
      .catch((error: Error) => deps.logger.warn({ err: error }, 'API key revocation listener did not close cleanly'));
    await usage.close();
  });
}
