import type { ProviderChannel } from '@esh3ar/contracts';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  CircuitState,
  ConsecutiveBreaker,
  TaskCancelledError,
  TimeoutStrategy,
  bulkhead,
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
  /** Calls in flight to this provider at most; more wait in the bulkhead's queue. */
  maxConcurrent: number;
  maxQueued: number;
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
}

/**
 * Per provider: a bulkhead (one slow provider cannot hold every slot), a circuit
 * breaker (opens after `failureThreshold` consecutive failures, probes again after
 * `halfOpenAfterMs`) and a timeout that aborts the HTTP call. Retries are not done
 * here: they are BullMQ's delayed attempts, which survive a crash.
 */
export function providerPolicy(channel: ProviderChannel, options: PolicyOptions): ProviderPolicy {
  const breaker = circuitBreaker(handleWhen(isProviderFailure), {
    halfOpenAfter: options.halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(options.failureThreshold),
  });
  const policy = wrap(bulkhead(options.maxConcurrent, options.maxQueued), breaker, timeout(options.timeoutMs, TimeoutStrategy.Aggressive));
  return { channel, breaker, policy };
}

export { BrokenCircuitError, BulkheadRejectedError, TaskCancelledError };
