import { readFileSync } from 'node:fs';
import type { RuntimeConfig } from '@esh3ar/config';
import type { Tenant } from '@esh3ar/db';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { apiError } from './errors.ts';

const SLIDING_WINDOW_LUA = readFileSync(new URL('./lua/sliding-window.lua', import.meta.url), 'utf8');

declare module 'ioredis' {
  interface RedisCommander<Context> {
    esh3arSlidingWindow(
      bucketsKey: string,
      clockKey: string,
      countsKey: string,
      now: number,
      windowMs: number,
      limit: number,
      burst: number,
      ...costs: number[]
    ): import("ioredis").Result<number[], Context>;
  }
}

export interface WindowDecision {
  admitted: boolean;
  /** Admissions in the window after this call. */
  used: number;
  /** Refused: ms until enough admissions have left the window(s) for this cost; 0 if admitted. */
  waitMs: number;
}

/** Makes `slidingWindow` callable on this connection (once per connection). */
export function defineSlidingWindow(redis: Redis): void {
  redis.defineCommand('esh3arSlidingWindow', { numberOfKeys: 3, lua: SLIDING_WINDOW_LUA });
}

/**
 * Rate-limit decisions for `key` at time `now` (ms, the caller's clock: injectable so
 * that tests can drive the window across its edges), one per request cost, in order,
 * in one script call. The script's three keys share `key` as their Redis Cluster hash
 * tag when it has one (`…{tenant}`).
 */
export async function slidingWindowBatch(
  redis: Redis,
  key: string,
  now: number,
  limits: { windowMs: number; limit: number; burst: number },
  costs: readonly number[],
): Promise<WindowDecision[]> {
  const flat = await redis.esh3arSlidingWindow(key, `${key}:clock`, `${key}:counts`, now, limits.windowMs, limits.limit, limits.burst, ...costs);
  return costs.map((_, i) => ({ admitted: flat[i * 3] === 1, used: flat[i * 3 + 1]!, waitMs: flat[i * 3 + 2]! }));
}

/** One request's decision (a batch of one). */
export async function slidingWindow(
  redis: Redis,
  key: string,
  now: number,
  limits: { windowMs: number; limit: number; burst: number; cost: number },
): Promise<WindowDecision> {
  const [decision] = await slidingWindowBatch(redis, key, now, limits, [limits.cost]);
  return decision!;
}

export interface TenantLimits {
  rpm: number;
  burst: number;
}

/** A tenant's own --rpm/--burst win over its tier's. */
export function tenantLimits(tenant: Tenant, runtime: RuntimeConfig): TenantLimits {
  const tier = runtime.rateLimit.tiers[tenant.tier];
  return { rpm: tenant.rpm ?? tier.rpm, burst: tenant.burst ?? tier.burst };
}

/**
 * @fastify/rate-limit keeps headers, 429 and hooks; this store replaces its fixed
 * window (which lets a tenant send twice its limit across a window edge) with an
 * exact sliding window in Redis. The plugin's store interface only sees a key, so
 * the key carries "<tenant>|<cost>|<burst>".
 */
type StoreCallback = (error: Error | null, result?: { current: number; ttl: number }) => void;

interface TickGroup {
  tenantId: string;
  limit: number;
  burst: number;
  costs: number[];
  callbacks: StoreCallback[];
}

function slidingWindowStore(redis: Redis, prefix: string, windowMs: () => number, clock: () => number) {
  // The requests of one tenant that reach the limiter in the same event-loop tick are
  // decided by one script call: under load that is one Redis script per tenant and
  // tick instead of one per request (the per-request cost that holds Fastify + Redis
  // to ~0.4x of a bare route, MEASURED.md).
  let tick = new Map<string, TickGroup>();
  let scheduled = false;

  function flush(): void {
    const groups = tick;
    tick = new Map();
    scheduled = false;
    const window = windowMs();
    const now = clock();
    for (const g of groups.values()) {
      slidingWindowBatch(redis, `${prefix}:rl:{${g.tenantId}}`, now, { windowMs: window, limit: g.limit, burst: g.burst }, g.costs).then(
        (decisions) =>
          decisions.forEach(({ admitted, used, waitMs }, i) =>
            g.callbacks[i]!(null, admitted ? { current: used, ttl: window } : { current: g.limit + 1, ttl: waitMs }),
          ),
        (error: Error) => {
          for (const callback of g.callbacks) callback(apiError('UNAVAILABLE', `rate limiter unavailable: ${error.message}`, [], 1));
        },
      );
    }
  }

  return class SlidingWindowStore {
    incr(key: string, callback: StoreCallback, _timeWindow: number, max: number): void {
      const [tenantId, cost, burst] = key.split('|') as [string, string, string];
      const groupKey = `${tenantId}|${max}|${burst}`;
      let group = tick.get(groupKey);
      if (!group) {
        group = { tenantId, limit: max, burst: Number(burst), costs: [], callbacks: [] };
        tick.set(groupKey, group);
      }
      group.costs.push(Number(cost));
      group.callbacks.push(callback);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    }
    child() {
      return new SlidingWindowStore();
    }
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Messages this request asks to send (a batch counts each). */
    messageCost?: number;
  }
}

export async function registerRateLimit(
  app: FastifyInstance,
  redis: Redis,
  prefix: string,
  runtime: () => RuntimeConfig,
  clock: () => number = Date.now,
): Promise<void> {
  defineSlidingWindow(redis);
  const windowMs = () => runtime().rateLimit.windowSeconds * 1000;
  await app.register(rateLimit, {
    global: false,
    // After body parsing, so that a batch is charged one slot per message.
    hook: 'preHandler',
    store: slidingWindowStore(redis, prefix, windowMs, clock),
    timeWindow: (() => windowMs()) as never,
    max: (request: FastifyRequest) => tenantLimits(request.tenant!, runtime()).rpm,
    keyGenerator: (request: FastifyRequest) =>
      `${request.tenant!.id}|${request.messageCost ?? 1}|${tenantLimits(request.tenant!, runtime()).burst}`,
    // Redis unreachable: refuse (503) rather than admit unbounded traffic.
    skipOnError: false,
    errorResponseBuilder: (_request, context) => {
      const ttlMs = (context as typeof context & { ttl: number }).ttl;
      const seconds = Math.max(1, Math.ceil(ttlMs / 1000));
      return apiError('RATE_LIMITED', `rate limit exceeded, retry in ${seconds} s`, [], seconds);
    },
  });
}
