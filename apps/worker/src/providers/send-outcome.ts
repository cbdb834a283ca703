import type { ProviderChannel, ProviderName } from '@esh3ar/contracts';
import type { CallOutcome } from '@esh3ar/db';
import { ProviderError } from './adapters/adapter.ts';
import { TaskCancelledError } from './breaker-policy.ts';

/** What became of one message of a send job (the esh3ar_provider_sends_total outcomes). */
export type Outcome =
  /** Accepted by a provider. */
  | 'sent'
  /** Refused for good. */
  | 'failed'
  /** A transient failure that spent the retry budget. */
  | 'dead_letter'
  /** A transient failure: counted, in a later job. */
  | 'retry'
  /** Every provider's circuit is open: waits in a later job, nothing counted. */
  | 'circuit_open'
  /** Another call of it is in progress: looked at again in a later job once that call's lease ends. */
  | 'busy'
  /** An earlier call never ended and its provider would send a repeat: not called again (unknownDetail). */
  | 'unknown'
  /** Nothing to send any more: handed over, refused, expired or gone. */
  | 'skipped';

/**
 * Providers that recognise a repeated call by our message id and answer it with the id
 * of the first, sending nothing twice: provider-sim (our id is its Idempotency-Key).
 * Twilio's and Meta's message APIs take no idempotency key, and SMTP has none.
 */
export const DEDUPLICATING_PROVIDERS: readonly ProviderName[] = ['sim'];

/** A failed call, as the batch records it: refused for good, or to be tried again. */
export type Failure = { kind: 'rejected'; reason: string } | { kind: 'transient'; reason: string; retryAfterMs: number | undefined };

/** null: not a provider failure but a bug, which fails the job. */
export function classify(error: unknown, provider: ProviderName): Failure | null {
  if (error instanceof TaskCancelledError) return { kind: 'transient', reason: `${provider} timed out`, retryAfterMs: undefined };
  if (!(error instanceof ProviderError)) return null;
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

/** The outcome row of a failed call. */
export function failureOutcome(id: string, failure: Failure): CallOutcome {
  return failure.kind === 'rejected'
    ? { id, kind: 'failed', reason: failure.reason, detail: failure.reason }
    : { id, kind: 'attempt', reason: failure.reason, detail: `attempt failed: ${failure.reason}` };
}

/**
 * A call that was started and never recorded (its worker stopped: SIGKILL, OOM, a lost
 * machine) may have been accepted. Through a provider that de-duplicates on our id it is
 * simply made again; through any other it is not: the message is marked sent with this
 * detail, without the provider's id. A duplicate at the handset is worse than a message we
 * cannot confirm: the provider's delivery receipt, if it sends one, cannot be matched to it.
 */
export const unknownDetail = (provider: string) =>
  `outcome unknown: the worker stopped during the call to ${provider}; not sent again to avoid a duplicate`;

/** Why the messages of a job wait for a circuit to close. */
export function waitingDetail(channel: ProviderChannel, providers: readonly string[]): string {
  return providers.length > 1
    ? `waiting: the circuit of every ${channel} provider (${providers.join(', ')}) is open`
    : `waiting: the ${channel} provider's circuit is open`;
}
