import {
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  signWebhook,
  type WebhookDelivery,
  type WebhookStatus,
} from '@esh3ar/contracts';
import type { OutboxEvent } from '@esh3ar/db';
import { request } from 'undici';
import { HttpCallError, retryAfterMs } from '../http/retry-after.ts';

/** How a POST to a tenant's endpoint failed. */
export type WebhookErrorCode = 'STATUS' | 'UNREACHABLE' | 'TIMEOUT';

export class WebhookError extends HttpCallError<WebhookErrorCode> {
  override name = 'WebhookError';
}

/** The JSON body of one POST: the tenant's events, oldest first. */
export function deliveryBody(tenantId: string, events: readonly OutboxEvent[]): string {
  const delivery: WebhookDelivery = {
    events: events.map((e) => ({
      id: e.id,
      messageId: e.messageId,
      status: e.status as WebhookStatus,
      at: e.at.toISOString(),
      detail: e.detail,
      tenant: tenantId,
    })),
  };
  return JSON.stringify(delivery);
}

/**
 * One signed POST. The timestamp is taken now, at each attempt, so a retry hours later
 * still passes a receiver's replay window. Only a 2xx counts as received; redirects are
 * not followed (a 3xx is a failure, as Stripe does).
 */
export async function postWebhook(url: string, secret: string, body: string, signal: AbortSignal): Promise<void> {
  const timestamp = Math.floor(Date.now() / 1000);
  let response;
  try {
    response = await request(url, {
      method: 'POST',
      signal,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Esh3ar-Webhooks/1',
        [WEBHOOK_TIMESTAMP_HEADER]: String(timestamp),
        [WEBHOOK_SIGNATURE_HEADER]: signWebhook(secret, timestamp, body),
      },
      body,
    });
  } catch (error) {
    if (signal.aborted) throw new WebhookError('TIMEOUT', 'the endpoint did not answer in time', { cause: error });
    throw new WebhookError('UNREACHABLE', `the endpoint is unreachable: ${(error as Error).message}`, { cause: error });
  }
  // The answer's body is not used; reading it to the end frees the connection for reuse.
  await response.body.dump();
  const { statusCode } = response;
  if (statusCode >= 200 && statusCode < 300) return;
  const after = retryAfterMs(response.headers['retry-after']);
  throw new WebhookError('STATUS', `the endpoint answered ${statusCode}`, after === undefined ? {} : { retryAfterMs: after });
}
