import { checkSendJob, type ProviderChannel, type ProviderName, type SendJobData } from '@esh3ar/contracts';
import { claimProviderCall, recordProviderAttempt, recordProviderOutcome, releaseProviderCall } from '@esh3ar/db';
import type { RuntimeConfig } from '@esh3ar/runtime';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type pg from 'pg';
import type { Logger } from 'pino';
import { ProviderError } from './adapters/adapter.ts';
import { BulkheadRejectedError, TaskCancelledError } from './breaker-policy.ts';
import { callFirstAvailable, type FailoverDeps } from './failover.ts';

export interface SendDeps extends FailoverDeps {
  pool: pg.Pool;
  logger: Logger;
  runtime: () => RuntimeConfig;
  onOutcome: (channel: ProviderChannel, outcome: Outcome) => void;
  /** How long a claimed message may wait in the bulkhead's queue and then be in its call, at most. */
  callLeaseMs: number;
}

export type Outcome = 'sent' | 'failed' | 'dead_letter' | 'retry' | 'circuit_open' | 'skipped';

/** Why a call did not succeed, as the processor acts on it. */
type Failure =
  { kind: 'busy' } | { kind: 'rejected'; reason: string } | { kind: 'transient'; reason: string; retryAfterMs: number | undefined };

function classify(error: unknown, provider: ProviderName): Failure {
  if (error instanceof BulkheadRejectedError) return { kind: 'busy' };
  if (error instanceof TaskCancelledError) return { kind: 'transient', reason: `${provider} timed out`, retryAfterMs: undefined };
  if (error instanceof ProviderError) {
    switch (error.code) {
      case 'REJECTED':
        return { kind: 'rejected', reason: error.message };
      case 'RATE_LIMITED':
        return { kind: 'transient', reason: error.message, retryAfterMs: error.retryAfterMs };
      case 'TIMEOUT':
      case 'UNAVAILABLE':
        return { kind: 'transient', reason: error.message, retryAfterMs: undefined };
    }
  }
  throw error; // a bug, not a provider failure: let BullMQ record it
}

/** A transient failure as BullMQ sees it: the backoff strategy honours Retry-After. */
export class RetryLater extends Error {
  override name = 'RetryLater';
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs: number | undefined) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Sends one message through the first provider of its channel whose breaker lets the call
 * through (failover.ts), and records which one took it. The message row is the source of
 * truth: the job first claims it (claimProviderCall), and one already handed to a provider,
 * no longer waiting or past its TTL is skipped, so a job re-run after a crash never sends
 * twice from our side (provider-sim also de-duplicates on our message id; Twilio cannot),
 * and a job whose DLQ replay was rolled back sends nothing. The claim keeps the expiry
 * sweep away while the provider may be accepting the message; the provider gets what is
 * left of the TTL as its validity period. Outcomes: accepted → sent; refused → failed, no
 * retry; transient → attempt counted, retried with backoff until worker.maxAttempts →
 * dead_letter; every provider's breaker open → the job waits (delayed, no attempt counted)
 * and the message stays pending with the reason.
 */
export function sendProcessor(deps: SendDeps) {
  return async function processSendJob(job: Job<SendJobData>, token?: string): Promise<Outcome> {
    if (!checkSendJob.Check(job.data)) throw new UnrecoverableError(`send job ${job.id} has an invalid payload`);
    const { channel, message, reason } = job.data;
    // A fallback, or a replayed app message, goes out even if a gateway pushed it meanwhile (sent, not acknowledged).
    const from = reason === 'send' ? ['pending'] : ['pending', 'sent'];
    const claim = await claimProviderCall(deps.pool, message.id, from, deps.callLeaseMs);
    if (claim === null) {
      deps.onOutcome(channel, 'skipped');
      return 'skipped';
    }
    const claimedAt = performance.now();
    const { breaker: breakerConfig, worker } = deps.runtime();

    const wait = async (waitMs: number, why: string): Promise<never> => {
      const first = job.attemptsStarted <= 1 || !(job.data as SendJobData & { waiting?: boolean }).waiting;
      await releaseProviderCall(deps.pool, message.id, first ? why : null);
      if (first) await job.updateData({ ...job.data, waiting: true } as SendJobData);
      deps.onOutcome(channel, 'circuit_open');
      await job.moveToDelayed(Date.now() + waitMs, token);
      throw new DelayedError();
    };

    const result = await callFirstAvailable(deps, channel, breakerConfig.halfOpenAfterMs, (adapter, signal) => {
      // What is left of the TTL now, after the wait in the bulkhead's queue.
      const validity = claim.secondsLeft === null ? null : Math.ceil(claim.secondsLeft - (performance.now() - claimedAt) / 1000);
      return validity !== null && validity <= 0
        ? Promise.resolve(null)
        : adapter.send({ channel, message, validityPeriodSeconds: validity }, signal);
    });
    switch (result.kind) {
      case 'all_open': {
        const names = (deps.providers.get(channel) ?? []).map((a) => a.name);
        const why =
          names.length > 1
            ? `waiting: the circuit of every ${channel} provider (${names.join(', ')}) is open`
            : `waiting: the ${channel} provider's circuit is open`;
        return wait(result.waitMs, why);
      }
      case 'expired':
        // The TTL ran out before the call: the expiry sweep makes it expired.
        await releaseProviderCall(deps.pool, message.id, null);
        deps.onOutcome(channel, 'skipped');
        return 'skipped';
      case 'accepted': {
        const { provider, providerMessageId } = result;
        const detail =
          reason === 'fallback'
            ? `no device acknowledged in time; sent by ${channel} through ${provider} (${providerMessageId})`
            : `accepted by the ${channel} provider ${provider} (${providerMessageId})`;
        await recordProviderOutcome(deps.pool, message.id, 'sent', { providerMessageId, provider, detail }, from);
        deps.onOutcome(channel, 'sent');
        return 'sent';
      }
      case 'failed':
        return failed(classify(result.error, result.provider));
    }

    async function failed(failure: Failure): Promise<Outcome> {
      switch (failure.kind) {
        case 'busy':
          // The bulkhead is full: try again shortly, without counting an attempt.
          await releaseProviderCall(deps.pool, message.id, null);
          await job.moveToDelayed(Date.now() + 100 + Math.floor(Math.random() * 400), token);
          throw new DelayedError();
        case 'rejected':
          await recordProviderOutcome(deps.pool, message.id, 'failed', { reason: failure.reason, detail: failure.reason }, from);
          deps.onOutcome(channel, 'failed');
          return 'failed';
        case 'transient': {
          const used = await recordProviderAttempt(deps.pool, message.id, `attempt failed: ${failure.reason}`, from);
          if (used === null) return 'skipped';
          if (used >= worker.maxAttempts) {
            await recordProviderOutcome(
              deps.pool,
              message.id,
              'dead_letter',
              { reason: failure.reason, detail: `${used} attempts failed; last: ${failure.reason}`, countAttempt: false },
              from,
            );
            deps.onOutcome(channel, 'dead_letter');
            deps.logger.warn({ id: message.id, channel, attempts: used }, 'message moved to the dead-letter queue');
            return 'dead_letter';
          }
          deps.onOutcome(channel, 'retry');
          throw new RetryLater(failure.reason, failure.retryAfterMs);
        }
      }
    }
  };
}
