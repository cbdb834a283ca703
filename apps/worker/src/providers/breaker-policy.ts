import type { ProviderChannel } from '@esh3ar/contracts';
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  TaskCancelledError,
  circuitBreaker,
  handleWhen,
  type CircuitBreakerPolicy,
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

/** One call through a provider's breaker, given a signal that aborts it after the timeout. */
export interface ProviderCall {
  execute<T>(fn: (context: { signal: AbortSignal }) => Promise<T>): Promise<T>;
}

export interface ProviderPolicy {
  channel: ProviderChannel;
  breaker: CircuitBreakerPolicy;
  policy: ProviderCall;
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
 * probes again after `halfOpenAfterMs`) and a timeout that aborts the HTTP call (a
 * TaskCancelledError, which the breaker counts as a failure). How many calls are in flight
 * is bounded per worker (in-flight.ts) and per provider account (provider-rates.ts), not here. Retries are not done here either: they are later jobs
 * (send-processor.ts), which survive a crash.
 */
export function providerPolicy(channel: ProviderChannel, options: PolicyOptions): ProviderPolicy {
  const breaker = circuitBreaker(handleWhen(isProviderFailure), {
    halfOpenAfter: options.halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(options.failureThreshold),
  });
  // The timeout as cockatiel's timeout policy makes it with TimeoutStrategy.Aggressive (the
  // call is aborted, and given up on even if it ignores the abort), without what that policy
  // does per call besides: a derived AbortController, three listeners, a race, and an abort
  // of the finished call's signal, whose DOMException (with its stack) alone took 3% of a
  // worker's CPU at 5,000 calls/s (bench/providers/sms-channel.ts, CPU profile).
  const policy: ProviderCall = {
    execute: (fn) =>
      breaker.execute(async () => {
        const controller = new AbortController();
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => {
            controller.abort();
            reject(new TaskCancelledError(`Operation timed out after ${options.timeoutMs}ms`));
          }, options.timeoutMs);
        });
        try {
          return await Promise.race([fn({ signal: controller.signal }), timedOut]);
        } finally {
          clearTimeout(timer);
        }
      }),
  };
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
