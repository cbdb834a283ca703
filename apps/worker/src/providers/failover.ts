import type { ProviderChannel, ProviderName } from '@esh3ar/contracts';
import { CircuitState } from 'cockatiel';
import type { ProviderAdapter } from './adapters/adapter.ts';
import type { ChannelProviders } from './adapters/create-adapters.ts';
import { BrokenCircuitError, type ProviderPolicy } from './breaker-policy.ts';

export interface FailoverDeps {
  /** Each channel's providers, in failover order. */
  providers: ChannelProviders;
  /** The breaker policy of a channel's provider (ProviderBreakers.policy). */
  policy: (channel: ProviderChannel, provider: ProviderName) => ProviderPolicy;
  /** Until when other workers saw this provider's breaker open (0: closed). */
  sharedOpenUntil: (channel: ProviderChannel, provider: ProviderName) => number;
}

/** What became of a message's call. `call` answering null (nothing to send any more) is `expired`. */
export type CallResult =
  | { kind: 'accepted'; provider: ProviderName; providerMessageId: string }
  | { kind: 'expired' }
  /** Every provider's breaker is open: the soonest one probes again in `waitMs`. */
  | { kind: 'all_open'; waitMs: number }
  /** The provider that took the call failed it (a ProviderError, a timeout, a full bulkhead). */
  | { kind: 'failed'; provider: ProviderName; error: unknown };

/**
 * Makes one call through the first of the channel's providers whose breaker lets it
 * through: open here (cockatiel's BrokenCircuitError, thrown before any call) or open in
 * another worker (the shared state) moves on to the next one. Traffic returns to an earlier
 * provider only through its breaker's half-open probe: once `halfOpenAfterMs` have passed,
 * the next message tries it, and only when that call succeeds does the breaker close and
 * the provider take the messages after it. While the probe is in flight the later
 * providers keep taking messages (cockatiel would hold them until the probe's outcome);
 * the last provider has no one after it, so its callers wait as cockatiel intends.
 *
 * A call that failed is not handed on to the next provider in the same job: a timeout or
 * a 5xx may still have been accepted, and Twilio has no idempotency key to recognise a
 * repeat. It is an attempt failed, retried by BullMQ, when the breaker decides again.
 */
export async function callFirstAvailable(
  deps: FailoverDeps,
  channel: ProviderChannel,
  halfOpenAfterMs: number,
  call: (adapter: ProviderAdapter, signal: AbortSignal) => Promise<{ providerMessageId: string } | null>,
): Promise<CallResult> {
  const adapters = deps.providers.get(channel) ?? [];
  let waitMs = Number.POSITIVE_INFINITY;
  for (const [i, adapter] of adapters.entries()) {
    const provider = adapter.name;
    const openUntil = deps.sharedOpenUntil(channel, provider) - Date.now();
    if (openUntil > 0) {
      waitMs = Math.min(waitMs, openUntil);
      continue;
    }
    const { breaker, policy } = deps.policy(channel, provider);
    if (i < adapters.length - 1 && breaker.state === CircuitState.HalfOpen) {
      waitMs = Math.min(waitMs, halfOpenAfterMs);
      continue;
    }
    try {
      const accepted = await policy.execute(({ signal }) => call(adapter, signal));
      return accepted === null ? { kind: 'expired' } : { kind: 'accepted', provider, providerMessageId: accepted.providerMessageId };
    } catch (error) {
      if (error instanceof BrokenCircuitError) {
        waitMs = Math.min(waitMs, halfOpenAfterMs);
        continue;
      }
      return { kind: 'failed', provider, error };
    }
  }
  return { kind: 'all_open', waitMs: Number.isFinite(waitMs) ? waitMs : halfOpenAfterMs };
}
