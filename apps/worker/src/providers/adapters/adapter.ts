import type { ProviderChannel, ProviderName, SendMessage } from '@esh3ar/contracts';
import { HttpCallError } from '../../http/retry-after.ts';

/**
 * How a provider call failed; the send processor switches over these exhaustively.
 * REJECTED: the provider refuses this message for good (failed, not retried). The others
 * are the provider's (or our account's) trouble: they open its breaker and the message is
 * retried. RATE_LIMITED carries the provider's Retry-After.
 */
export type ProviderErrorCode = 'TIMEOUT' | 'UNAVAILABLE' | 'RATE_LIMITED' | 'REJECTED';

/** A failed call; `message` is the failure reason recorded on the message, naming the provider and its own code. */
export class ProviderError extends HttpCallError<ProviderErrorCode> {
  override name = 'ProviderError';
}

export interface SendRequest {
  /** The channel the message goes out on: its own, or its fallback's. */
  channel: ProviderChannel;
  message: SendMessage;
  /**
   * What is left of the message's TTL (null: none): the provider drops the message once
   * it runs out instead of delivering it late.
   */
  validityPeriodSeconds: number | null;
}

/**
 * One provider (provider-sim, Twilio, Meta's WhatsApp Cloud API, SMTP) behind one shape, so
 * that a channel's failover list can hold any of them. `send` makes exactly one call and
 * never retries: retries are BullMQ's delayed attempts, the breaker is the caller's. It
 * resolves with the provider's own id of the message, or throws a ProviderError, and
 * stops when `signal` aborts (the policy's timeout). `close` releases the connections.
 */
export interface ProviderAdapter {
  readonly name: ProviderName;
  send(request: SendRequest, signal: AbortSignal): Promise<{ providerMessageId: string }>;
  close(): Promise<void>;
}

/** A call that never got an answer: TIMEOUT when our timeout aborted it, UNAVAILABLE otherwise (refused, reset, DNS). */
export function unanswered(provider: string, error: unknown, signal: AbortSignal): ProviderError {
  if (signal.aborted) return new ProviderError('TIMEOUT', `${provider} did not answer in time`, { cause: error });
  return new ProviderError('UNAVAILABLE', `${provider} unreachable: ${(error as Error).message}`, { cause: error });
}
