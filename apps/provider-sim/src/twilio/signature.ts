import { createHmac } from 'node:crypto';

/**
 * X-Twilio-Signature, as Twilio signs its webhooks
 * (https://www.twilio.com/docs/usage/webhooks/webhooks-security): HMAC-SHA1 keyed with the
 * account's Auth Token over the full URL of the request followed by every POST field's
 * name and value, fields sorted by name, with no separators; base64. The URL is signed as
 * it was given (the StatusCallback), query string included.
 */
export function twilioSignature(authToken: string, url: string, params: Readonly<Record<string, string>>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((signed, name) => signed + name + params[name], url);
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}
