import type { FastifyBaseLogger } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { pickReceiptStatus } from '../twilio/receipt-outcomes.ts';
import type { ReceiptSettings } from '../twilio/receipts.ts';
import { metaSignature } from './signature.ts';
import { STATUSES_OF, statusPayload, type StatusUpdate } from './status-payload.ts';

/** One accepted message whose statuses are to be reported. */
export interface PendingStatus {
  phoneNumberId: string;
  wamid: string;
  recipientId: string;
}

export interface WebhookDeps {
  /** PROVIDER_SIM_META_WEBHOOK_URL; null: no webhooks. */
  url: string | null;
  appSecret: string;
  /** The Twilio part's receipt delay and outcome mix, shared. */
  settings: ReceiptSettings;
  random: () => number;
  logger: FastifyBaseLogger;
  registry: Registry;
}

/** As for Twilio's callbacks: a webhook that has not answered in 15 s is given up and counted failed. */
const WEBHOOK_TIMEOUT_MS = 15_000;

/**
 * Meta's status webhooks: `delayMs` after a message is accepted, its statuses (drawn from
 * the receipt outcomes, status-payload.ts) POSTed one by one, in order, to the webhook URL
 * as JSON signed with X-Hub-Signature-256. A POST that fails is not tried again (Meta
 * would; the simulator counts it instead) and the next status is still sent. Owns its
 * timers and requests: close() drops the statuses not yet sent.
 */
export class MetaWebhookSender {
  readonly #deps: WebhookDeps;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #closing = new AbortController();
  readonly #sent: Counter<'status' | 'result'>;

  constructor(deps: WebhookDeps) {
    this.#deps = deps;
    this.#sent = new Counter({
      name: 'esh3ar_provider_sim_meta_webhooks_total',
      help: 'Meta status webhooks POSTed by provider-sim, by status and result (posted: a 2xx answer; failed: any other answer or none)',
      labelNames: ['status', 'result'] as const,
      registers: [deps.registry],
    });
  }

  schedule(pending: PendingStatus): void {
    const url = this.#deps.url;
    if (url === null || this.#closing.signal.aborted) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#postAll(url, pending);
    }, this.#deps.settings.delayMs);
    this.#timers.add(timer);
  }

  async #postAll(url: string, pending: PendingStatus): Promise<void> {
    const outcome = pickReceiptStatus(this.#deps.settings.outcomes, this.#deps.random);
    for (const step of STATUSES_OF[outcome]) {
      if (this.#closing.signal.aborted) return;
      await this.#post(url, { ...pending, ...step, at: new Date() });
    }
  }

  async #post(url: string, update: StatusUpdate): Promise<void> {
    const body = Buffer.from(JSON.stringify(statusPayload(update)));
    const log = { wamid: update.wamid, status: update.status, url };
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(this.#deps.appSecret, body) },
        body,
        signal: AbortSignal.any([this.#closing.signal, AbortSignal.timeout(WEBHOOK_TIMEOUT_MS)]),
      });
      await response.body?.cancel();
      this.#sent.inc({ status: update.status, result: response.ok ? 'posted' : 'failed' });
      if (!response.ok) this.#deps.logger.warn({ ...log, statusCode: response.status }, 'meta webhook refused');
    } catch (error) {
      this.#sent.inc({ status: update.status, result: 'failed' });
      if (!this.#closing.signal.aborted) this.#deps.logger.warn({ ...log, err: error }, 'meta webhook not delivered');
    }
  }

  close(): void {
    this.#closing.abort();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
