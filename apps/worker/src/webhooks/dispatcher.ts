import { randomUUID } from 'node:crypto';
import {
  claimWebhookTenants,
  disabledWebhookCount,
  markWebhookDelivered,
  retryWebhookLater,
  webhookOutboxBatch,
  webhookOutboxLagSeconds,
  type WebhookClaim,
} from '@esh3ar/db';
import type { WebhookMetrics } from '@esh3ar/observability';
import { cappedBackoffMs } from '@esh3ar/queue';
import type pg from 'pg';
import type { Logger } from 'pino';
import { BrokenCircuitError, EndpointBreakers, HALF_OPEN_AFTER_MS, TaskCancelledError } from './endpoint-breakers.ts';
import { deliveryRequest, postWebhook, WebhookError } from './post-webhook.ts';

export interface WebhookDispatcherOptions {
  pool: pg.Pool;
  logger: Logger;
  metrics: WebhookMetrics;
  timeoutMs: number;
  pollMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** retention.webhookDisableAfterHours, read at each failure. */
  disableAfterHours: () => number;
}

// Tenants served at once by one worker; each holds no PostgreSQL connection while its POST is out.
const TENANTS_IN_FLIGHT = 16;
// Events per POST: with one request in flight per tenant, a tenant's rate is 100 events per round trip, not 1.
const EVENTS_PER_POST = 100;
// Batches in a row for one tenant before its lease goes back, so a large backlog takes turns.
const BATCHES_PER_LEASE = 10;
// Lease margin beyond the timeout, for the PostgreSQL round trips around a POST.
const LEASE_MARGIN_MS = 5000;

type Outcome = { ok: true } | { ok: false; delayMs: number; countFailure: boolean };
const HOUR_MS = 3_600_000;

/**
 * POSTs each tenant's status events from `webhook_outbox` to its endpoint, in the order
 * they were written, one request at a time per tenant: a tenant is leased by one worker
 * (claimed with FOR UPDATE SKIP LOCKED), and its later events wait while an earlier POST
 * fails (head-of-line blocking). That is what guarantees a receiver never gets an older
 * status of a message after a newer one. Delivery is at least once (a worker killed after
 * the endpoint answered, before the rows are deleted, leaves them to be sent again);
 * receivers de-duplicate on the event id, or on the webhook-id of a request sent again whole. An endpoint that answers nothing 2xx for
 * retention.webhookDisableAfterHours is disabled: no more POSTs until its webhook is set
 * again; its events wait meanwhile (at most retention.webhookBacklogMax, RetentionPurger).
 */
export class WebhookDispatcher {
  readonly #options: WebhookDispatcherOptions;
  readonly #breakers: EndpointBreakers;
  readonly #leaseMs: number;
  readonly #observeEvery: number;
  readonly #serving = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> = Promise.resolve();
  #polls = 0;
  #pollFailing = false;
  #closing = false;

  constructor(options: WebhookDispatcherOptions) {
    this.#options = options;
    this.#breakers = new EndpointBreakers(options.timeoutMs);
    this.#leaseMs = options.timeoutMs + 2 * LEASE_MARGIN_MS;
    this.#observeEvery = Math.max(1, Math.ceil(1000 / options.pollMs));
    this.#schedule();
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#polling = this.#poll().finally(() => {
        if (!this.#closing) this.#schedule();
      });
    }, this.#options.pollMs);
    this.#timer.unref();
  }

  async #poll(): Promise<void> {
    const { pool, logger, metrics } = this.#options;
    try {
      if (this.#polls++ % this.#observeEvery === 0) {
        metrics.lag.set(await webhookOutboxLagSeconds(pool));
        metrics.breakersOpen.set(this.#breakers.openCount());
        metrics.endpointsDisabled.set(await disabledWebhookCount(pool));
      }
      const room = TENANTS_IN_FLIGHT - this.#serving.size;
      if (room <= 0 || this.#closing) return;
      const leaseToken = randomUUID();
      const claims = await claimWebhookTenants(pool, room, this.#leaseMs, leaseToken);
      if (this.#pollFailing) logger.info('webhook polls succeed again');
      this.#pollFailing = false;
      for (const claim of claims) {
        const serving: Promise<void> = this.#serve(claim, leaseToken).finally(() => this.#serving.delete(serving));
        this.#serving.add(serving);
      }
    } catch (error) {
      // Once per outage, not five times a second while PostgreSQL is down.
      if (!this.#pollFailing) logger.warn({ err: error }, 'webhook poll failed; retrying every poll');
      this.#pollFailing = true;
    }
  }

  /** Delivers a leased tenant's waiting events, batch after batch, until none are left, one fails, or its turn is over. */
  async #serve(claim: WebhookClaim, leaseToken: string): Promise<void> {
    const { pool, logger } = this.#options;
    try {
      for (let batch = 1; ; batch++) {
        const events = await webhookOutboxBatch(
          pool,
          claim.tenantId,
          leaseToken,
          EVENTS_PER_POST,
          this.#options.timeoutMs + LEASE_MARGIN_MS,
        );
        if (events.length === 0) {
          // Nothing (left) to send: give the lease back, failure count untouched.
          await retryWebhookLater(pool, claim.tenantId, leaseToken, 0, false, null);
          return;
        }
        const outcome = await this.#post(claim, deliveryRequest(claim.tenantId, events));
        if (!outcome.ok) {
          const hours = this.#options.disableAfterHours();
          const retry = await retryWebhookLater(pool, claim.tenantId, leaseToken, outcome.delayMs, outcome.countFailure, hours * HOUR_MS);
          if (retry?.disabled) {
            logger.warn(
              { tenantId: claim.tenantId, endpoint: new URL(claim.url).origin, failingSince: retry.failingSince, disableAfterHours: hours },
              'webhook endpoint disabled: no 2xx for retention.webhookDisableAfterHours; setting the webhook again enables it',
            );
          }
          return;
        }
        this.#options.metrics.events.inc(events.length);
        const more = events.length === EVENTS_PER_POST && batch < BATCHES_PER_LEASE && !this.#closing;
        const stillLeased = await markWebhookDelivered(
          pool,
          claim.tenantId,
          leaseToken,
          events.map((e) => e.id),
          more ? this.#leaseMs : 0,
        );
        if (!more || !stillLeased) return;
      }
    } catch (error) {
      // PostgreSQL unreachable, say: the lease runs out and this tenant is served again.
      logger.warn({ err: error, tenantId: claim.tenantId }, 'webhook delivery interrupted; retried when the lease expires');
    }
  }

  async #post(claim: WebhookClaim, webhook: { id: string; body: string }): Promise<Outcome> {
    const { metrics, logger, retryBaseMs, retryMaxMs } = this.#options;
    const stop = metrics.duration.startTimer();
    try {
      await this.#breakers.execute(claim.tenantId, claim.url, (signal) => postWebhook(claim.url, claim.secret, webhook, signal));
      metrics.deliveries.inc({ outcome: 'delivered' });
      return { ok: true };
    } catch (error) {
      if (error instanceof BrokenCircuitError) {
        metrics.deliveries.inc({ outcome: 'circuit_open' });
        return { ok: false, delayMs: HALF_OPEN_AFTER_MS, countFailure: false };
      }
      if (!(error instanceof WebhookError || error instanceof TaskCancelledError)) throw error;
      metrics.deliveries.inc({ outcome: 'failed' });
      const backoff = cappedBackoffMs(claim.failures + 1, retryBaseMs, retryMaxMs);
      const asked = error instanceof WebhookError ? error.retryAfterMs : undefined;
      const delayMs = Math.min(retryMaxMs, Math.max(backoff, asked ?? 0));
      const reason = error instanceof TaskCancelledError ? 'the endpoint did not answer in time' : error.message;
      logger.warn(
        { tenantId: claim.tenantId, endpoint: new URL(claim.url).origin, failures: claim.failures + 1, retryInMs: delayMs, reason },
        'webhook POST failed',
      );
      return { ok: false, delayMs, countFailure: true };
    } finally {
      stop();
    }
  }

  /** Stops claiming, then waits for the POSTs in flight (each ends within the timeout) and their writes. */
  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#timer);
    await this.#polling;
    await Promise.allSettled([...this.#serving]);
  }
}
