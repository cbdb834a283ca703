import type { ProviderChannel, ProviderName } from '@esh3ar/contracts';
import { CircuitState } from 'cockatiel';
import type { ProviderAdapter } from './adapters/adapter.ts';
import type { ChannelProviders } from './adapters/create-adapters.ts';
import type { ProviderPolicy } from './breaker-policy.ts';

export interface FailoverDeps {
  /** Each channel's providers, in failover order. */
  providers: ChannelProviders;
  /** The breaker policy of a channel's provider (ProviderBreakers.policy). */
  policy: (channel: ProviderChannel, provider: ProviderName) => ProviderPolicy;
  /** Until when other workers saw this provider's breaker open (0: closed). */
  sharedOpenUntil: (channel: ProviderChannel, provider: ProviderName) => number;
  /** For a provider seen open in another worker and not called with success here since: when one call may probe it (ProviderBreakers.probeAfter). */
  probeAfter: (channel: ProviderChannel, provider: ProviderName) => number | undefined;
}

/** Where a channel's next calls go. */
export type Route =
  /** Through this provider; `probe`: one call only, the half-open probe, while the next messages go on to the providers after it. */
  | { kind: 'provider'; adapter: ProviderAdapter; policy: ProviderPolicy; probe: boolean }
  /** Every provider's breaker is open: the soonest one probes again in `waitMs`. */
  | { kind: 'all_open'; waitMs: number };

/**
 * The first of the channel's providers whose breaker lets calls through: one open here
 * (cockatiel's state, and its half-open delay counted from when it opened) or open in
 * another worker (the shared state) is passed over for the next. Traffic returns to an
 * earlier provider only through its breaker's half-open probe: once its delay has passed,
 * one call is routed to it (`probe`), and only when that call succeeds does the breaker
 * close and the provider take the messages after it. While the probe is in flight the
 * later providers keep taking messages (cockatiel would hold them until the probe's
 * outcome); the last provider has no one after it, so its callers wait as cockatiel intends.
 *
 * A call that failed is not handed on to the next provider in the same job: a timeout or
 * a 5xx may still have been accepted, and Twilio has no idempotency key to recognise a
 * repeat. It is an attempt failed, retried in a later job, when the breaker decides again.
 * A call the breaker refused before it started (BrokenCircuitError) is routed again.
 *
 * `only`: messages that only this provider may take (an earlier call there never ended,
 * and it recognises the repeat), as if it were the channel's one provider. One it no
 * longer is a provider of waits a minute, for a worker that has it.
 */
export function chooseRoute(deps: FailoverDeps, channel: ProviderChannel, now = Date.now(), only?: ProviderName): Route {
  const adapters = (deps.providers.get(channel) ?? []).filter((a) => only === undefined || a.name === only);
  let waitMs = Number.POSITIVE_INFINITY;
  let halfOpenAfterMs = 0;
  for (const [i, adapter] of adapters.entries()) {
    const provider = adapter.name;
    const last = i === adapters.length - 1;
    const policy = deps.policy(channel, provider);
    halfOpenAfterMs = Math.max(halfOpenAfterMs, policy.halfOpenAfterMs);
    const openUntil = deps.sharedOpenUntil(channel, provider) - now;
    if (openUntil > 0) {
      waitMs = Math.min(waitMs, openUntil);
      continue;
    }
    const probeAt = deps.probeAfter(channel, provider);
    if (probeAt !== undefined && policy.breaker.state === CircuitState.Closed) {
      // Open in another worker until a moment ago, and not called with success here since:
      // one call probes, even through the last provider (this worker's breaker, closed,
      // would hold no one back).
      if (probeAt > now || policy.probing) {
        waitMs = Math.min(waitMs, probeAt > now ? probeAt - now : policy.halfOpenAfterMs);
        continue;
      }
      policy.probing = true;
      return { kind: 'provider', adapter, policy, probe: true };
    }
    switch (policy.breaker.state) {
      case CircuitState.Closed:
        return { kind: 'provider', adapter, policy, probe: false };
      case CircuitState.HalfOpen:
        if (last) return { kind: 'provider', adapter, policy, probe: false };
        waitMs = Math.min(waitMs, policy.halfOpenAfterMs);
        continue;
      case CircuitState.Open:
      case CircuitState.Isolated: {
        const left = policy.openedAt + policy.halfOpenAfterMs - now;
        if (left > 0) {
          waitMs = Math.min(waitMs, left);
          continue;
        }
        if (last) return { kind: 'provider', adapter, policy, probe: false };
        if (policy.probing) {
          waitMs = Math.min(waitMs, policy.halfOpenAfterMs);
          continue;
        }
        policy.probing = true;
        return { kind: 'provider', adapter, policy, probe: true };
      }
    }
  }
  if (adapters.length === 0) return { kind: 'all_open', waitMs: 60_000 };
  return { kind: 'all_open', waitMs: Number.isFinite(waitMs) ? waitMs : halfOpenAfterMs };
}
