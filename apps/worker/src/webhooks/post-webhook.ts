import { webhookHeaders, webhookRequest, type WebhookStatus } from '@esh3ar/contracts';
import type { OutboxEvent } from '@esh3ar/db';
import { request } from 'undici';
import { HttpCallError, retryAfterMs } from '../http/retry-after.ts';

/** How a POST to a tenant's endpoint failed. */
export type WebhookErrorCode = 'STATUS' | 'UNREACHABLE' | 'TIMEOUT';

export class WebhookError extends HttpCallError<WebhookErrorCode> {
  override name = 'WebhookError';
}

/** One POST of the tenant's events, oldest first: its webhook-id and body are the same at each retry of these events. */
export function deliveryRequest(tenantId: string, events: readonly OutboxEvent[]): { id: string; body: string } {
  return webhookRequest({
    events: events.map((e) => ({
      id: e.id,
      type: 'message.status',
      messageId: e.messageId,
      status: e.status as WebhookStatus,
      at: e.at.toISOString(),
      detail: e.detail,
      tenant: tenantId,
    })),
  });
}

/**
 * One signed POST. It is signed now, at each attempt, so a retry hours later still passes
 * a receiver's 5-minute replay window. Only a 2xx counts as received; redirects are not
 * followed (a 3xx is a failure, as the Standard Webhooks spec advises).
 */
export async function postWebhook(
  url: string,
  secret: string,
  { id, body }: { id: string; body: string },
  signal: AbortSignal,
): Promise<void> {
  let response;
  try {
    response = await request(url, {
      method: 'POST',
      signal,
      headers: webhookHeaders(secret, id, body),
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
