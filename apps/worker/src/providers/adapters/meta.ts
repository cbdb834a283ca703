import type { Logger } from 'pino';
import { Pool } from 'undici';
import { ProviderError, unanswered, type ProviderAdapter, type SendRequest } from './adapter.ts';
import { classifyMetaFailure } from './meta-errors.ts';

/**
 * Meta's WhatsApp Cloud API, text messages as documented at
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/text-messages/:
 * POST {META_GRAPH_BASE_URL}/{phone number ID}/messages with `Authorization: Bearer
 * <token>` and `{"messaging_product": "whatsapp", "recipient_type": "individual", "to",
 * "type": "text", "text": {"body"}}` (body at most 4096 characters, the public API's own
 * limit); 200 with `{"messaging_product", "contacts": [{"input", "wa_id"}], "messages":
 * [{"id": "wamid.…"}]}`. Errors as in meta-errors.ts; delivery is reported later by the
 * webhook the api receives (/v1/providers/meta/webhook, matched on the wamid).
 *
 * `to` is our E.164 recipient, plus sign included, as in Meta's own example
 * ("+16505551234"; Meta recommends the plus and the country code, and answers `wa_id`
 * without the plus). A text message has no validity period on the Cloud API (only some
 * templates take a TTL), so what is left of the TTL is not sent.
 */
export interface MetaSettings {
  /** META_WA_TOKEN: a system user's access token with whatsapp_business_messaging. */
  token: string;
  /** META_WA_PHONE_NUMBER_ID: the business number's Graph object ID (digits), not the number. */
  phoneNumberId: string;
  /** META_GRAPH_BASE_URL, https://graph.facebook.com/v21.0 in production: host and API version. */
  graphBaseUrl: string;
}

/** The JSON of one send-message call. */
export function metaMessageBody(request: SendRequest): string {
  if (request.channel !== 'whatsapp') throw new Error(`meta sends whatsapp, not ${request.channel}`);
  return JSON.stringify({
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to: request.message.recipient,
    type: 'text',
    text: { body: request.message.content },
  });
}

export interface MetaAdapterOptions {
  /** Keep-alive sockets at most: the calls in flight. */
  connections: number;
  logger: Logger;
}

/**
 * A small undici client, as for Twilio (twilio.ts): Meta publishes no Node SDK for the
 * Cloud API, and one Pool keeps `connections` keep-alive sockets to graph.facebook.com
 * that our policy's AbortSignal can end. Meta has no idempotency key on sends either: the
 * worker's claim on the message row makes each message one call, and a call that timed
 * out is retried, possibly reaching the handset twice.
 */
export function createMetaAdapter(settings: MetaSettings, options: MetaAdapterOptions): ProviderAdapter {
  const url = new URL(settings.graphBaseUrl);
  const pool = new Pool(url.origin, { connections: options.connections });
  const path = `${url.pathname.replace(/\/$/, '')}/${encodeURIComponent(settings.phoneNumberId)}/messages`;
  const authorization = `Bearer ${settings.token}`;

  return {
    name: 'meta',
    async send(request, signal) {
      const body = metaMessageBody(request);
      let response;
      try {
        response = await pool.request({
          method: 'POST',
          path,
          signal,
          headers: { authorization, 'content-type': 'application/json', accept: 'application/json' },
          body,
        });
      } catch (error) {
        throw unanswered('meta', error, signal);
      }
      const { statusCode } = response;
      if (statusCode >= 200 && statusCode < 300) {
        const answer = (await response.body.json()) as { messages?: { id?: unknown }[] };
        const id = answer.messages?.[0]?.id;
        if (typeof id !== 'string' || id === '') throw new ProviderError('UNAVAILABLE', `meta answered ${statusCode} without a message id`);
        return { providerMessageId: id };
      }
      const text = await response.body.text().catch(() => '');
      const { error, check } = classifyMetaFailure(statusCode, text);
      if (check !== null)
        options.logger.error({ provider: 'meta', statusCode, reason: error.message }, `Meta refused our account: check ${check}`);
      throw error;
    },
    close: () => pool.close(),
  };
}
