import type { ProviderChannel, ProviderName, SendJobData, SendMessage } from '@esh3ar/contracts';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  claimProviderCalls,
  isTransientPgError,
  recordProviderOutcomes,
  type CallOutcome,
  type ProviderCallClaim,
  type RecordedOutcome,
} from '@esh3ar/db';
import type pg from 'pg';
import type { ProviderAdapter } from './adapters/adapter.ts';
import { BrokenCircuitError, type ProviderPolicy } from './breaker-policy.ts';
import type { InFlight } from './in-flight.ts';
import { DEDUPLICATING_PROVIDERS, classify, failureOutcome, unknownDetail, type Outcome } from './send-outcome.ts';

export interface ChunkContext {
  pool: pg.Pool;
  channel: ProviderChannel;
  reason: SendJobData['reason'];
  /** The statuses a message may be sent from. */
  from: readonly string[];
  maxAttempts: number;
  /** How long a claim lasts: the longest a claimed message can wait for its call and take, with the outcome's round trip. */
  leaseMs: number;
  /** Messages claimed and not yet called back: what a worker holds at once. */
  claimed: InFlight;
  /** Calls in flight: each call takes one for its duration. */
  inFlight: InFlight;
}

export interface ChunkResult {
  /** What became of each message that is done with in this job. */
  outcomes: Map<string, Outcome>;
  /** Transient failures within the retry budget, with the attempts each has used. */
  retry: { message: SendMessage; used: number }[];
  /** The longest Retry-After among them. */
  retryAfterMs: number | undefined;
  /** Messages another call holds, with when its lease ends. */
  busy: { message: SendMessage; waitMs: number }[];
  /** Messages not called (the breaker refused before the call, or only `pin` may call them): to be routed again. */
  reroute: { message: SendMessage; pin: ProviderName | undefined }[];
}

/**
 * One provider's share of a send job: the messages claimed in one statement, the claimed
 * ones called concurrently through the provider's breaker and timeout, each once it has an
 * in-flight slot, and every outcome recorded in one statement, with its events. `held`
 * slots of `ctx.claimed` were taken for the messages; each is given back as soon as its
 * call ends (or at once for a message not called), before the outcomes are recorded, so
 * the next batches need not wait for this one's round trip. The claim's round trip holds
 * no call slot: at 20 ms a claim under load, it held a fifth of them idle before.
 *
 * A call that fails with an error that is not a provider's (a bug) is left unrecorded and
 * thrown once the others are: its claim lapses, and a later run treats it as a call whose
 * outcome is unknown, which it is.
 */
export async function sendChunk(
  ctx: ChunkContext,
  route: { adapter: ProviderAdapter; policy: ProviderPolicy },
  messages: readonly SendMessage[],
  held: number,
): Promise<ChunkResult> {
  const { adapter, policy } = route;
  const provider = adapter.name;
  let left = held;
  const give = () => {
    left -= 1;
    ctx.claimed.release(1);
  };
  const result: ChunkResult = { outcomes: new Map(), retry: [], retryAfterMs: undefined, busy: [], reroute: [] };
  const recorded: CallOutcome[] = [];
  const retryAfter = new Map<string, number | undefined>();
  const bugs: unknown[] = [];
  /** Refused by the breaker before the call: routed again once their claims are released. */
  const refused = new Set<string>();
  try {
    const claims = await claimProviderCalls(
      ctx.pool,
      messages.map((m) => m.id),
      { from: ctx.from, leaseMs: ctx.leaseMs, provider, deduplicating: DEDUPLICATING_PROVIDERS },
    );
    const claimedAt = performance.now();
    const claimOf = new Map(claims.map((c) => [c.id, c]));

    const call = async (message: SendMessage, claim: ProviderCallClaim): Promise<void> => {
      await ctx.inFlight.acquire(1, 1);
      try {
        // What is left of the TTL now: the provider drops the message once it runs out.
        const validity = claim.secondsLeft === null ? null : Math.ceil(claim.secondsLeft - (performance.now() - claimedAt) / 1000);
        if (validity !== null && validity <= 0) {
          recorded.push({ id: message.id, kind: 'release', detail: null }); // the expiry sweep makes it expired
          return;
        }
        const { providerMessageId } = await policy.policy.execute(({ signal }) =>
          adapter.send({ channel: ctx.channel, message, validityPeriodSeconds: validity }, signal),
        );
        recorded.push({ id: message.id, kind: 'sent', providerMessageId, provider, detail: null });
      } catch (error) {
        if (error instanceof BrokenCircuitError) {
          recorded.push({ id: message.id, kind: 'release', detail: null });
          refused.add(message.id);
          return;
        }
        const failure = classify(error, provider);
        if (failure === null) {
          bugs.push(error);
          return;
        }
        recorded.push(failureOutcome(message.id, failure));
        if (failure.kind === 'transient') retryAfter.set(message.id, failure.retryAfterMs);
      } finally {
        ctx.inFlight.release(1);
      }
    };

    const calls: Promise<void>[] = [];
    for (const message of messages) {
      const claim = claimOf.get(message.id);
      switch (claim?.state ?? 'done') {
        case 'claimed':
          calls.push(call(message, claim!).finally(give));
          continue;
        case 'done':
          result.outcomes.set(message.id, 'skipped');
          break;
        case 'busy':
          result.outcomes.set(message.id, 'busy');
          result.busy.push({ message, waitMs: claim!.callMsLeft ?? 0 });
          break;
        case 'unknown': {
          // A claim without a provider was taken before provider_call_to existed (migration 0013).
          const earlier = claim!.earlierProvider ?? 'unknown';
          recorded.push({ id: message.id, kind: 'unknown', provider: earlier, detail: unknownDetail(earlier) });
          break;
        }
        case 'elsewhere':
          result.reroute.push({ message, pin: claim!.earlierProvider as ProviderName });
          break;
      }
      give();
    }
    await Promise.all(calls);
  } finally {
    if (left > 0) ctx.claimed.release(left);
  }

  const saved = await recordWithRetries(ctx, recorded);
  const byId = new Map(messages.map((m) => [m.id, m]));
  for (const outcome of recorded) {
    const message = byId.get(outcome.id)!;
    const after = saved.get(outcome.id);
    if (refused.has(outcome.id)) {
      result.reroute.push({ message, pin: undefined });
    } else if (after === undefined) {
      result.outcomes.set(outcome.id, 'skipped'); // no longer to be sent: another job's outcome came first
    } else if (outcome.kind === 'release') {
      result.outcomes.set(outcome.id, 'skipped');
    } else if (outcome.kind !== 'attempt') {
      result.outcomes.set(outcome.id, outcome.kind);
    } else if (after.status === 'dead_letter') {
      result.outcomes.set(outcome.id, 'dead_letter');
    } else {
      result.outcomes.set(outcome.id, 'retry');
      result.retry.push({ message, used: after.used });
      const wait = retryAfter.get(outcome.id);
      if (wait !== undefined) result.retryAfterMs = Math.max(result.retryAfterMs ?? 0, wait);
    }
  }
  if (bugs.length > 0) throw bugs[0];
  return result;
}

/**
 * The outcomes, recorded even through a PostgreSQL blip: the provider has answered, and
 * outcomes lost here are recorded by no one (their claims lapse, and the messages become
 * calls of unknown outcome). Three more tries over 1.75 s, well within the claim's lease,
 * covering a connection reset or a failover; a longer outage fails the job.
 */
async function recordWithRetries(ctx: ChunkContext, recorded: readonly CallOutcome[]): Promise<Map<string, RecordedOutcome>> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await recordProviderOutcomes(ctx.pool, recorded, {
        from: ctx.from,
        maxAttempts: ctx.maxAttempts,
        channel: ctx.channel,
        reason: ctx.reason,
      });
    } catch (error) {
      if (attempt >= 3 || !isTransientPgError(error)) throw error;
      await sleep(250 * 2 ** attempt);
    }
  }
}
