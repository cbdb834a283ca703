import type { FastifyBaseLogger, FastifyInstance } from 'fastify';

type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildOptions = Parameters<FastifyBaseLogger['child']>[1];
type LogArgs = Parameters<FastifyBaseLogger['info']>;

/**
 * A request's logger, made only if the request logs. Fastify gives every request a pino
 * child logger bound to its id; pino serializes the bindings when the child is made, and
 * most requests never log (request logging is off; errors and warnings are rare): at
 * 5,000 req/s the children cost ~1 µs each plus their garbage (bench/ingest/cost.ts).
 * This stands in for the child and makes the real one on the first line written. A class,
 * not a closure: one small object per request rather than eight functions.
 */
class LazyRequestLogger {
  #parent: FastifyBaseLogger;
  #bindings: Bindings;
  #options: ChildOptions;
  #child: FastifyBaseLogger | undefined;

  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: ChildOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
  }

  get #real(): FastifyBaseLogger {
    this.#child ??= this.#parent.child(this.#bindings, this.#options);
    return this.#child;
  }

  get level(): string {
    return this.#child?.level ?? this.#parent.level;
  }
  set level(level: string) {
    this.#real.level = level;
  }
  fatal(...args: LogArgs): void {
    this.#real.fatal(...args);
  }
  error(...args: LogArgs): void {
    this.#real.error(...args);
  }
  warn(...args: LogArgs): void {
    this.#real.warn(...args);
  }
  info(...args: LogArgs): void {
    this.#real.info(...args);
  }
  debug(...args: LogArgs): void {
    this.#real.debug(...args);
  }
  trace(...args: LogArgs): void {
    this.#real.trace(...args);
  }
  silent(...args: LogArgs): void {
    this.#real.silent(...args);
  }
  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.#real.child(bindings, options);
  }
}

/** Fastify's `childLoggerFactory`: the lazy stand-in above. */
export function lazyRequestLogger(
  this: FastifyInstance,
  parent: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildOptions,
): FastifyBaseLogger {
  return new LazyRequestLogger(parent, bindings, options);
}
