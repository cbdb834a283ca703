import { randomUUID } from 'node:crypto';
import { webhookIdOf } from './webhook-signature.ts';

/** The statuses a tenant's webhook is told about (`pending` is not: it is where every message starts). */
export const WEBHOOK_STATUSES = ['sent', 'delivered', 'failed', 'dead_letter', 'expired', 'canceled'] as const;
export type WebhookStatus = (typeof WEBHOOK_STATUSES)[number];

/** One status change of a message, as POSTed to the tenant's webhook. */
export interface WebhookEvent {
  /** Unique per event, increasing in the order the changes were written: de-duplicate on it. */
  id: string;
  /** A full-stop delimited event type, as the Standard Webhooks payload structure recommends. */
  type: 'message.status';
  messageId: string;
  status: WebhookStatus;
  /** ISO 8601: when the change happened (for `delivered`, the device's ack). */
  at: string;
  detail: string | null;
  tenant: string;
}

/** The one event of a test request (POST /v1/admin/tenants/{id}/webhook/test): no message changed. */
export interface WebhookTestEvent {
  /** `test_` and a UUID: never the id of a status event (those are digits). */
  id: string;
  type: 'webhook.test';
  /** ISO 8601: when the test was asked for. */
  at: string;
  detail: string;
  tenant: string;
}

/** The body of one POST: a tenant's status events, oldest first, or a test event alone. */
export interface WebhookDelivery {
  events: WebhookEvent[] | [WebhookTestEvent];
}

/** A test event for this tenant, made now. */
export function webhookTestEvent(tenantId: string, at: Date = new Date()): WebhookTestEvent {
  return {
    id: `test_${randomUUID()}`,
    type: 'webhook.test',
    at: at.toISOString(),
    detail: 'a test event asked for by an operator; no message changed',
    tenant: tenantId,
  };
}

/** What one POST carries: its webhook-id (the same whenever these events are sent again) and its JSON body. */
export function webhookRequest(delivery: WebhookDelivery): { id: string; body: string } {
  return { id: webhookIdOf(delivery.events.map((e) => e.id)), body: JSON.stringify(delivery) };
}

export const WEBHOOK_URL_MAX_CHARS = 2048;

/** Why this is not a usable webhook URL (absolute http or https), or null when it is. */
export function webhookUrlProblem(url: string): string | null {
  if (url.length === 0 || url.length > WEBHOOK_URL_MAX_CHARS) return `url must be 1 to ${WEBHOOK_URL_MAX_CHARS} characters`;
  // Checked on the text itself: the URL parser would quietly drop spaces and control
  // characters, and read "https:host" as "https://host/".
  if (!/^https?:\/\/[^\s\p{Cc}]+$/iu.test(url)) return 'url must start with http:// or https:// and hold no spaces or control characters';
  return URL.canParse(url) ? null : 'url must be an absolute URL';
}
