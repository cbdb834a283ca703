import { readFileSync } from 'node:fs';
import type { Tenant } from '@esh3ar/db';
import type { ApiLimitMetrics, IngestMetrics } from '@esh3ar/observability';
import type { RuntimeConfig } from '@esh3ar/runtime';
import type { FastifyInstance, FastifyReply, onRouteHookHandler, preHandlerHookHandler } from 'fastify';
import { apiError, unavailable } from './errors.ts';
import type { RedisClient } from '@esh3ar/queue';

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
    ): import('ioredis').Result<number[], Context>;
  }
}

export interface WindowDecision {
  admitted: boolean;
  /** Admissions in the window after this call. */
  used: number;
  /** Refused: ms until enough admissions have left the window(s) for this cost; 0 if admitted. */
  waitMs: number;
}

/** A window of `windowMs` admitting `limit`, and at most `burst` in any second. */
export interface WindowLimits {
  windowMs: number;
  limit: number;
  burst: number;
}

/** Makes `slidingWindow` callable on this connection (once per connection). */
export function defineSlidingWindow(redis: RedisClient): void {
  redis.defineCommand('esh3arSlidingWindow', { numberOfKeys: 3, lua: SLIDING_WINDOW_LUA });
}

/**
 * Rate-limit decisions for `key` at time `now` (ms, the caller's clock: injectable so
 * that tests can drive the window across its edges), one per request cost, in order,
 * in one script call. The script's three keys share `key` as their Redis Cluster hash
 * tag when it has one (`…{tenant}`).
 */
export async function slidingWindowBatch(
  redis: RedisClient,
  key: string,
  now: number,
  limits: WindowLimits,
  costs: readonly number[],
): Promise<WindowDecision[]> {
  const flat = await redis.esh3arSlidingWindow(
    key,
    `${key}:clock`,
    `${key}:counts`,
    now,
    limits.windowMs,
    limits.limit,
    limits.burst,
    ...costs,
  );
  return costs.map((_, i) => ({ admitted: flat[i * 3] === 1, used: flat[i * 3 + 1]!, waitMs: flat[i * 3 + 2]! }));
}

/** One request's decision (a batch of one). */
export async function slidingWindow(
  redis: RedisClient,
  key: string,
  now: number,
  limits: WindowLimits & { cost: number },
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

/** A limiter key with its limits: the requests of one share a script call. */
export interface Budgeted {
  key: string;
  limits: WindowLimits;
  /** The key and limits in one string, the group's name. */
  group: string;
}

export const budgeted = (key: string, limits: WindowLimits): Budgeted => ({
  key,
  limits,
  group: `${key} ${limits.windowMs} ${limits.limit} ${limits.burst}`,
});

/** Called once with the decision, or with the error that kept the script from deciding. */
export type Settle = (error: Error | null, decision?: WindowDecision) => void;

interface TickGroup {
  budget: Budgeted;
  costs: number[];
  settle: Settle[];
}

/**
 * `decide(budget, cost, settle)`: the sliding-window decision for one request. Each key (and
 * its limits) is decided group-commit style: with no script call of that key in flight,
 * its requests of one event-loop tick go at once; while one is, what arrives gathers and
 * goes as soon as it answers, in arrival order. Under load that is one Redis script per
 * tenant per round trip instead of one per request or per tick (docs/api.md, "Rate
 * limits"): at 5,000 req/s a tick held one or two requests, and every script waits for
 * Redis's fsync. Keys wait only for their own calls: a tenant on a slow master holds up
 * no other tenant. A callback rather than a promise: the request's hook goes on from it
 * directly, without a promise and a microtask per request.
 */
export function tickLimiter(redis: RedisClient, clock: () => number = Date.now) {
  defineSlidingWindow(redis);
  const gathered = new Map<string, TickGroup>();
  const inFlight = new Set<string>();
  let scheduled = false;

  function send(name: string): void {
    const g = gathered.get(name);
    if (!g) return;
    gathered.delete(name);
    inFlight.add(name);
    slidingWindowBatch(redis, g.budget.key, clock(), g.budget.limits, g.costs)
      .then(
        (decisions) => g.settle.forEach((settle, i) => settleOne(settle, null, decisions[i])),
        (error: unknown) => g.settle.forEach((settle) => settleOne(settle, error instanceof Error ? error : new Error(String(error)))),
      )
      .finally(() => {
        inFlight.delete(name);
        send(name);
      });
  }

  // Each callback answers its own request (and logs what it cannot answer): one that
  // throws must not leave the rest of its group waiting.
  function settleOne(settle: Settle, error: Error | null, decision?: WindowDecision): void {
    try {
      settle(error, decision);
    } catch {
      // its own to report
    }
  }

  function flush(): void {
    scheduled = false;
    for (const name of [...gathered.keys()]) if (!inFlight.has(name)) send(name);
  }

  return function decide(budget: Budgeted, cost: number, settle: Settle): void {
    let group = gathered.get(budget.group);
    if (!group) gathered.set(budget.group, (group = { budget, costs: [], settle: [] }));
    group.costs.push(cost);
    group.settle.push(settle);
    if (!scheduled && !inFlight.has(budget.group)) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

/** Each tenant has two budgets: messages sent (its tier's or its own rpm and burst) and reads. */
export type Budget = 'send' | 'read';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The tenant budget a route counts against (registerRateLimit); none: not limited. */
    budget?: Budget;
  }
}

/**
 * A tenant's budgets under the runtime configuration in force, made once per tenant and
 * configuration rather than per request. The limiter's keys share the tenant as their
 * Redis Cluster hash tag.
 */
function budgetsOf(tenant: Tenant, prefix: string, runtime: RuntimeConfig): Record<Budget, Budgeted> {
  // Per minute, as the setting is named, whatever rateLimit.windowSeconds is; no per-second
  // cap beyond the minute's.
  const perMinute = runtime.rateLimit.readsPerMinute;
  const { rpm, burst } = tenantLimits(tenant, runtime);
  return {
    read: budgeted(`${prefix}:rl:read:{${tenant.id}}`, { windowMs: 60_000, limit: perMinute, burst: perMinute }),
    send: budgeted(`${prefix}:rl:{${tenant.id}}`, { windowMs: runtime.rateLimit.windowSeconds * 1000, limit: rpm, burst }),
  };
}

export interface RateLimitDeps {
  redis: RedisClient;
  prefix: string;
  runtime: () => RuntimeConfig;
  ingestMetrics: IngestMetrics;
  limitMetrics: ApiLimitMetrics;
  /** Injectable so that tests can drive the window across its edges. */
  clock?: () => number;
}

/**
 * Every route of `scope` whose config names a `budget` is charged against it in a
 * preHandler (after body parsing, so that a batch is charged one slot per message, and
 * after authentication, which names the tenant). Answers carry x-ratelimit-limit,
 * -remaining and -reset (seconds until the whole window is free again at the latest); a
 * request over the budget is `429 RATE_LIMITED` with Retry-After, the seconds until
 * enough admissions have left the window. Redis unreachable: 503 rather than admitting
 * unbounded traffic.
 */
export function registerRateLimit(scope: FastifyInstance, deps: RateLimitDeps): void {
  const decide = tickLimiter(deps.redis, deps.clock);
  // Tenant objects are the key cache's: a tenant changed in PostgreSQL is a new object.
  const memo = new WeakMap<Tenant, { runtime: RuntimeConfig; budgets: Record<Budget, Budgeted> }>();

  function budgetOf(budget: Budget, tenant: Tenant): Budgeted {
    const runtime = deps.runtime();
    let m = memo.get(tenant);
    if (m === undefined || m.runtime !== runtime) memo.set(tenant, (m = { runtime, budgets: budgetsOf(tenant, deps.prefix, runtime) }));
    return m.budgets[budget];
  }

  function answer(budget: Budget, reply: FastifyReply, limits: WindowLimits, cost: number, decision: WindowDecision): Error | undefined {
    reply.header('x-ratelimit-limit', limits.limit);
    if (decision.admitted) {
      reply.header('x-ratelimit-remaining', Math.max(0, limits.limit - decision.used));
      reply.header('x-ratelimit-reset', Math.ceil(limits.windowMs / 1000));
      return undefined;
    }
    const seconds = Math.max(1, Math.ceil(decision.waitMs / 1000));
    reply.header('x-ratelimit-remaining', 0);
    reply.header('x-ratelimit-reset', seconds);
    if (budget === 'send') deps.ingestMetrics.refused.inc({ reason: 'rate_limit' }, cost);
    else deps.limitMetrics.refused.inc({ limit: 'reads' });
    // A batch bigger than the limits themselves is refused however long it waits: say so.
    const most = Math.min(limits.burst, limits.limit);
    if (cost > most)
      return apiError(
        'RATE_LIMITED',
        `a batch of ${cost} messages is more than this tenant's rate limit admits at once (${most}): it is refused whenever it is sent; send at most ${most} messages in a request`,
        [{ path: '/messages', message: `must hold at most ${most} messages for this tenant` }],
        seconds,
      );
    return apiError('RATE_LIMITED', `${budget === 'read' ? 'read ' : ''}rate limit exceeded, retry in ${seconds} s`, [], seconds);
  }

  // Callback hooks: no promise per request.
  function limiter(budget: Budget): preHandlerHookHandler {
    return function rateLimit(request, reply, done) {
      const charged = budgetOf(budget, request.tenant!);
      const cost = budget === 'send' ? (request.messageCost ?? 1) : 1;
      decide(charged, cost, (error, decision) => {
        let refusal: Error | undefined;
        try {
          refusal = error === null ? answer(budget, reply, charged.limits, cost, decision!) : unavailable('the rate limiter', error);
        } catch (failed) {
          refusal = failed as Error;
        }
        try {
          done(refusal);
        } catch (thrown) {
          // Fastify answers what its hooks and handler throw; this is what escaped it.
          request.log.error({ err: thrown }, 'request failed after its rate-limit decision');
        }
      });
    };
  }
  const hooks = { send: limiter('send'), read: limiter('read') };

  const onRoute: onRouteHookHandler = (route) => {
    const budget = route.config?.budget;
    if (budget === undefined) return;
    const existing = route.preHandler;
    route.preHandler = [...(existing === undefined ? [] : Array.isArray(existing) ? existing : [existing]), hooks[budget]];
  };
  scope.addHook('onRoute', onRoute);
}
