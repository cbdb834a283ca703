/** The statuses a tenant's webhook is told about (`pending` is not: it is where every message starts). */
export const WEBHOOK_STATUSES = ['sent', 'delivered', 'failed', 'dead_letter', 'expired'] as const;
export type WebhookStatus = (typeof WEBHOOK_STATUSES)[number];

/** One status change of a message, as POSTed to the tenant's webhook. */
export interface WebhookEvent {
  /** Unique per event, increasing in the order the changes were written: de-duplicate on it. */
  id: string;
  messageId: string;
  status: WebhookStatus;
  /** ISO 8601: when the change happened (for `delivered`, the device's ack). */
  at: string;
  detail: string | null;
  tenant: string;
}

/** The body of one POST: a tenant's events, oldest first. */
export interface WebhookDelivery {
  events: WebhookEvent[];
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
