import type { Logger } from 'pino';
import { Pool } from 'undici';
import { ProviderError, unanswered, type ProviderAdapter, type SendRequest } from './adapter.ts';
import { classifyTwilioFailure } from './twilio-errors.ts';

/**
 * Twilio's Messages API for SMS and WhatsApp, as documented at
 * https://www.twilio.com/docs/messaging/api/message-resource (create a Message: POST
 * /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded, HTTP Basic with the
 * Account SID and Auth Token; 201 with the Message resource, `sid` "SM…"), WhatsApp by
 * the `whatsapp:+E164` address convention in To and From
 * (https://www.twilio.com/docs/whatsapp/api), errors as in twilio-errors.ts.
 *
 * A small undici client rather than the `twilio` SDK (6.3): the SDK brings axios, dayjs,
 * jsonwebtoken, qs, xmlbuilder and https-proxy-agent for this one POST, and its requests
 * (src/base/RequestClient.ts in twilio/twilio-node) take a timeout but no AbortSignal, so
 * our policy's timeout could stop waiting for a call but not end it; it would also be a
 * second HTTP stack next to undici, with its own sockets. An undici Pool keeps
 * `connections` keep-alive sockets to api.twilio.com, one per call in flight.
 */
export interface TwilioSettings {
  accountSid: string;
  authToken: string;
  /** TWILIO_FROM: the SMS sender, a number, an alphanumeric sender id or a Messaging Service SID ("MG…"); null: SMS is not sent through Twilio. */
  from: string | null;
  /** TWILIO_WHATSAPP_FROM: the WhatsApp sender, with or without `whatsapp:`, or a Messaging Service SID; null: WhatsApp is not sent through Twilio. */
  whatsappFrom: string | null;
  /** TWILIO_BASE_URL, https://api.twilio.com in production. */
  baseUrl: string;
}

/** ValidityPeriod is whole seconds from 1 to 36,000 (10 h; https://www.twilio.com/docs/api/errors/21624). */
export const VALIDITY_PERIOD_MAX_SECONDS = 36_000;

const WHATSAPP = 'whatsapp:';
const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;

/** Where Twilio posts a message's status changes: the api's receipt route. */
export const twilioStatusCallbackUrl = (publicBaseUrl: string) => `${publicBaseUrl.replace(/\/$/, '')}/v1/providers/twilio/status`;

/**
 * The form of one create-Message call. A sender that is a Messaging Service SID goes as
 * MessagingServiceSid (Twilio picks the number), any other as From. What is left of the
 * TTL is the ValidityPeriod, at most Twilio's 36,000 s, which is also its default: a
 * longer TTL changes nothing there.
 */
export function twilioMessageForm(settings: TwilioSettings, statusCallbackUrl: string | null, request: SendRequest): URLSearchParams {
  const { channel, message, validityPeriodSeconds } = request;
  if (channel === 'email') throw new Error('twilio sends sms and whatsapp, not email');
  const sender = channel === 'whatsapp' ? settings.whatsappFrom : settings.from;
  if (sender === null) throw new Error(`twilio has no sender for ${channel} (config.ts requires one when ${channel} uses twilio)`);
  const address = (to: string) => (channel === 'whatsapp' && !to.startsWith(WHATSAPP) ? `${WHATSAPP}${to}` : to);
  const form = new URLSearchParams({ To: address(message.recipient), Body: message.content });
  if (MESSAGING_SERVICE_SID.test(sender)) form.set('MessagingServiceSid', sender);
  else form.set('From', address(sender));
  if (validityPeriodSeconds !== null) {
    form.set('ValidityPeriod', String(Math.min(Math.max(Math.ceil(validityPeriodSeconds), 1), VALIDITY_PERIOD_MAX_SECONDS)));
  }
  if (statusCallbackUrl !== null) form.set('StatusCallback', statusCallbackUrl);
  return form;
}

export interface TwilioAdapterOptions {
  /** PUBLIC_BASE_URL's receipt route (twilioStatusCallbackUrl), or null: no status callbacks. */
  statusCallbackUrl: string | null;
  /** Keep-alive sockets at most: the calls in flight per channel. */
  connections: number;
  logger: Logger;
}

/**
 * Twilio has no idempotency key on message creation: a call repeated after a lost answer
 * would send twice. The worker's claim on the message row (claimProviderCall) is what makes
 * each message one call; a call that timed out is retried, and may then be a duplicate at
 * the handset, which is the price of not losing the message.
 */
export function createTwilioAdapter(settings: TwilioSettings, options: TwilioAdapterOptions): ProviderAdapter {
  const url = new URL(settings.baseUrl);
  const pool = new Pool(url.origin, { connections: options.connections });
  const path = `${url.pathname.replace(/\/$/, '')}/2010-04-01/Accounts/${encodeURIComponent(settings.accountSid)}/Messages.json`;
  const authorization = `Basic ${Buffer.from(`${settings.accountSid}:${settings.authToken}`).toString('base64')}`;

  return {
    name: 'twilio',
    async send(request, signal) {
      const form = twilioMessageForm(settings, options.statusCallbackUrl, request);
      let response;
      try {
        response = await pool.request({
          method: 'POST',
          path,
          signal,
          headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: form.toString(),
        });
      } catch (error) {
        throw unanswered(`twilio (${request.channel})`, error, signal);
      }
      const { statusCode } = response;
      if (statusCode >= 200 && statusCode < 300) {
        const body = (await response.body.json()) as { sid?: unknown };
        if (typeof body.sid !== 'string') throw new ProviderError('UNAVAILABLE', `twilio answered ${statusCode} without a sid`);
        return { providerMessageId: body.sid };
      }
      const text = await response.body.text().catch(() => '');
      const { error, check } = classifyTwilioFailure(statusCode, text, response.headers['retry-after']);
      if (check !== null)
        options.logger.error({ provider: 'twilio', statusCode, reason: error.message }, `Twilio refused our account: check ${check}`);
      throw error;
    },
    close: () => pool.close(),
  };
}
