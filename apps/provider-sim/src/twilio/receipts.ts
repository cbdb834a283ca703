import type { FastifyBaseLogger } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { pickReceiptStatus, RECEIPT_ERROR_CODES, type ReceiptOutcomes } from './receipt-outcomes.ts';
import { twilioSignature } from './signature.ts';

export interface ReceiptSettings {
  /** How long after its creation a message's status callback is POSTed. */
  delayMs: number;
  outcomes: ReceiptOutcomes;
}

/** One accepted message whose create request asked for a StatusCallback. */
export interface PendingReceipt {
  callbackUrl: string;
  messageSid: string;
  accountSid: string;
  from: string;
  to: string;
}

export interface ReceiptDeps {
  settings: ReceiptSettings;
  authToken: string;
  random: () => number;
  logger: FastifyBaseLogger;
  registry: Registry;
}

/**
 * A callback that has not answered in 15 s is given up and counted failed: a receipt route
 * that slow is what the metric should show.
 */
const CALLBACK_TIMEOUT_MS = 15_000;

/**
 * Twilio's status callbacks: `delayMs` after a message is accepted, one form-encoded POST
 * to its StatusCallback with the final status drawn from `outcomes`, signed with
 * X-Twilio-Signature. Fields as Twilio sends them: MessageSid and SmsSid, MessageStatus
 * and SmsStatus, AccountSid, From, To, ApiVersion, and ErrorCode when not delivered. Like
 * Twilio without a connection override, a callback that fails is not tried again.
 * Owns its timers and requests: close() drops the receipts not yet sent.
 */
export class ReceiptSender {
  readonly #deps: ReceiptDeps;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #closing = new AbortController();
  readonly #sent: Counter<'status' | 'result'>;

  constructor(deps: ReceiptDeps) {
    this.#deps = deps;
    this.#sent = new Counter({
      name: 'esh3ar_provider_sim_receipts_total',
      help: 'Twilio status callbacks POSTed by provider-sim, by status and result (posted: a 2xx answer; failed: any other answer or none)',
      labelNames: ['status', 'result'] as const,
      registers: [deps.registry],
    });
  }

  schedule(receipt: PendingReceipt): void {
    if (this.#closing.signal.aborted) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#post(receipt);
    }, this.#deps.settings.delayMs);
    this.#timers.add(timer);
  }

  async #post(receipt: PendingReceipt): Promise<void> {
    const status = pickReceiptStatus(this.#deps.settings.outcomes, this.#deps.random);
    const params: Record<string, string> = {
      AccountSid: receipt.accountSid,
      ApiVersion: '2010-04-01',
      From: receipt.from,
      MessageSid: receipt.messageSid,
      MessageStatus: status,
      SmsSid: receipt.messageSid,
      SmsStatus: status,
      To: receipt.to,
      ...(status === 'delivered' ? {} : { ErrorCode: String(RECEIPT_ERROR_CODES[status]) }),
    };
    const log = { messageSid: receipt.messageSid, status, url: receipt.callbackUrl };
    try {
      const response = await fetch(receipt.callbackUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': twilioSignature(this.#deps.authToken, receipt.callbackUrl, params),
        },
        body: new URLSearchParams(params).toString(),
        signal: AbortSignal.any([this.#closing.signal, AbortSignal.timeout(CALLBACK_TIMEOUT_MS)]),
      });
      await response.body?.cancel();
      const result = response.ok ? 'posted' : 'failed';
      this.#sent.inc({ status, result });
      if (!response.ok) this.#deps.logger.warn({ ...log, statusCode: response.status }, 'status callback refused');
    } catch (error) {
      this.#sent.inc({ status, result: 'failed' });
      if (!this.#closing.signal.aborted) this.#deps.logger.warn({ ...log, err: error }, 'status callback not delivered');
    }
  }

  close(): void {
    this.#closing.abort();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
