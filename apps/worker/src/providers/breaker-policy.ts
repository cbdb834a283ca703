import type { ProviderChannel } from '@esh3ar/contracts';
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
import type { BreakerState } from '@esh3ar/queue/breaker-state';
import { ProviderError } from './adapters/adapter.ts';

export interface PolicyOptions {
  failureThreshold: number;
  halfOpenAfterMs: number;
  timeoutMs: number;
}

/** Failures that say the provider is unwell (they open the breaker); a refusal of one message does not. */
export function isProviderFailure(error: unknown): boolean {
  if (error instanceof TaskCancelledError) return true;
  return error instanceof ProviderError && error.code !== 'REJECTED';
}

export function stateName(state: CircuitState): BreakerState {
  switch (state) {
    case CircuitState.Closed:
      return 'closed';
    case CircuitState.HalfOpen:
      return 'half_open';
    case CircuitState.Open:
    case CircuitState.Isolated:
      return 'open';
  }
}

export interface ProviderPolicy {
  channel: ProviderChannel;
  breaker: CircuitBreakerPolicy;
  policy: IPolicy;
  halfOpenAfterMs: number;
  /** When the breaker last opened (Date.now(), as cockatiel counts its half-open delay from); 0: never. */
  openedAt: number;
  /**
   * A probe was handed out (failover.ts chooseRoute) and has not started yet: until it
   * does (the breaker goes half-open) or is given up, no second one is.
   */
  probing: boolean;
}

/**
 * Per provider: a circuit breaker (opens after `failureThreshold` consecutive failures,
 * probes again after `halfOpenAfterMs`) and a timeout that aborts the HTTP call. How many
 * calls are in flight is bounded per worker (in-flight.ts) and per provider account
 * (provider-rates.ts), not here. Retries are not done here either: they are later jobs
 * (send-processor.ts), which survive a crash.
 */
export function providerPolicy(channel: ProviderChannel, options: PolicyOptions): ProviderPolicy {
  const breaker = circuitBreaker(handleWhen(isProviderFailure), {
    halfOpenAfter: options.halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(options.failureThreshold),
  });
  // abortOnReturn: false: the call has read its answer by then, and aborting a finished
  // call's signal cost a DOMException (with its stack) per call, 3% of a worker's CPU.
  const policy = wrap(breaker, timeout(options.timeoutMs, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false }));
  const provider: ProviderPolicy = { channel, breaker, policy, halfOpenAfterMs: options.halfOpenAfterMs, openedAt: 0, probing: false };
  // Both run synchronously with cockatiel's own state change, after it.
  breaker.onBreak(() => {
    provider.openedAt = Date.now();
    provider.probing = false;
  });
  breaker.onHalfOpen(() => {
    provider.probing = false;
  });
  return provider;
}

export { BrokenCircuitError, TaskCancelledError };
