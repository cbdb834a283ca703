import type { BaseLogger } from 'pino';

/**
 * Each check answers within this: the kubelet's readiness probe gives up after 2 s
 * (timeoutSeconds, infra/k8s/*.yaml), and should get a 503 rather than no answer while
 * a PostgreSQL that does not answer holds a connection attempt for 5 s and a Redis
 * command waits in ioredis's offline queue for as long as Redis is down.
 */
export const READY_CHECK_TIMEOUT_MS = 1000;

/** What /health/ready answers: 200 unless 'unavailable'. */
export type ReadyStatus = 'ok' | 'degraded' | 'unavailable';

export interface ReadinessCheck {
  /** Resolves once the dependency answers; what it resolves to is not used. */
  run: () => Promise<unknown>;
  /**
   * What a failure means: the process cannot do its work ('unavailable', 503, the
   * default), or can, with a delay ('degraded', still 200).
   */
  failure?: 'unavailable' | 'degraded';
  /** Milliseconds; READY_CHECK_TIMEOUT_MS unless given. */
  timeoutMs?: number;
}

export interface ReadinessOptions<D> {
  /**
   * Fields of the body's `checks` beside the checks' own results, read once the checks
   * have answered (so that a value a check refreshes is the fresh one).
   */
  details?: () => D | Promise<D>;
  /** True: unavailable whatever the checks answer. */
  refusing?: () => boolean;
  /** Where a failing check's error goes (debug): the body must not carry it. */
  logger?: Pick<BaseLogger, 'debug'>;
}

export interface Readiness<N extends string, D> {
  statusCode: 200 | 503;
  body: { status: ReadyStatus; checks: Record<N, string> & D };
}

class CheckTimeout extends Error {
  override name = 'CheckTimeout';
}

/** `promise`, or a rejection once `ms` have passed. */
export async function within<T>(promise: Promise<T>, ms = READY_CHECK_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new CheckTimeout(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * 'ok', or an error in words that name no host, port or driver: /health/ready answers
 * anyone who asks. The cause goes to the logger at debug: the connections' own error
 * listeners already warn once per failure, not once per probe.
 */
async function probe(name: string, check: ReadinessCheck, logger: ReadinessOptions<unknown>['logger']): Promise<string> {
  const ms = check.timeoutMs ?? READY_CHECK_TIMEOUT_MS;
  try {
    await within(check.run(), ms);
    return 'ok';
  } catch (error) {
    if (error instanceof CheckTimeout) return `error: no answer within ${ms} ms`;
    logger?.debug({ err: error, check: name }, 'readiness check failed');
    return 'error: unreachable';
  }
}

/**
 * The answer to GET /health/ready: every named check run at once, each result ('ok' or
 * why not) under its name in `checks`, beside `details`. 'unavailable' (503) when a check
 * whose failure is 'unavailable' fails or `refusing` says so, else 'degraded' (200) when
 * any check fails, else 'ok'.
 */
export async function readiness<N extends string, D extends Record<string, unknown> = Record<never, never>>(
  checks: Record<N, ReadinessCheck>,
  options: ReadinessOptions<D> = {},
): Promise<Readiness<N, D>> {
  const names = Object.keys(checks) as N[];
  const results = await Promise.all(names.map((name) => probe(name, checks[name], options.logger)));
  const failed = names.filter((_, i) => results[i] !== 'ok');
  const unavailable = options.refusing?.() === true || failed.some((name) => (checks[name].failure ?? 'unavailable') === 'unavailable');
  const status: ReadyStatus = unavailable ? 'unavailable' : failed.length > 0 ? 'degraded' : 'ok';
  const details = (await options.details?.()) ?? ({} as D);
  const own = Object.fromEntries(names.map((name, i) => [name, results[i]!])) as Record<N, string>;
  return { statusCode: unavailable ? 503 : 200, body: { status, checks: { ...own, ...details } } };
}
