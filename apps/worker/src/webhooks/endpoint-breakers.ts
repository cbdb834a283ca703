import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  TaskCancelledError,
  TimeoutStrategy,
  circuitBreaker,
  handleWhen,
  timeout,
  wrap,
  type CircuitBreakerPolicy,
  type IPolicy,
} from 'cockatiel';
import { WebhookError } from './post-webhook.ts';

// Five failures in a row is no blip; a retry already waits 8-16 s by then (backoff base 1 s).
const FAILURE_THRESHOLD = 5;
// While open, nothing goes to the endpoint from this worker; then one probe.
export const HALF_OPEN_AFTER_MS = 30_000;
// One entry per endpoint that failed since its last success; beyond this many the oldest
// is forgotten (a fresh breaker), which keeps memory bounded whatever the tenant count.
const MAX_ENTRIES = 10_000;

interface Entry {
  url: string;
  breaker: CircuitBreakerPolicy;
  policy: IPolicy;
}

/**
 * A circuit breaker and a timeout per tenant endpoint, so that one tenant's dead or slow
 * endpoint never delays another's. Every failure counts: a non-2xx answer, a refused
 * connection, a timeout.
 */
export class EndpointBreakers {
  readonly #entries = new Map<string, Entry>();
  readonly #timeoutMs: number;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  #entry(tenantId: string, url: string): Entry {
    const known = this.#entries.get(tenantId);
    if (known && known.url === url) return known;
    const breaker = circuitBreaker(
      handleWhen((error) => error instanceof WebhookError || error instanceof TaskCancelledError),
      { halfOpenAfter: HALF_OPEN_AFTER_MS, breaker: new ConsecutiveBreaker(FAILURE_THRESHOLD) },
    );
    const entry = { url, breaker, policy: wrap(breaker, timeout(this.#timeoutMs, TimeoutStrategy.Aggressive)) };
    this.#entries.delete(tenantId);
    this.#entries.set(tenantId, entry);
    if (this.#entries.size > MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    return entry;
  }

  /** Runs `call` behind this endpoint's breaker and timeout (the signal aborts the request). */
  async execute(tenantId: string, url: string, call: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const entry = this.#entry(tenantId, url);
    await entry.policy.execute(({ signal }) => call(signal));
    // Closed after a success is the same as a new breaker: nothing to remember.
    if (entry.breaker.state === CircuitState.Closed && this.#entries.get(tenantId) === entry) this.#entries.delete(tenantId);
  }

  openCount(): number {
    let open = 0;
    for (const { breaker } of this.#entries.values()) if (breaker.state === CircuitState.Open) open++;
    return open;
  }
}

export { BrokenCircuitError, TaskCancelledError };
