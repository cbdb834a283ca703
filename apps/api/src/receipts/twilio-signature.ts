import { createHmac, timingSafeEqual } from 'node:crypto';

/** POST fields as @fastify/formbody parses them: a name sent twice has an array of values. */
export type FormFields = Readonly<Record<string, string | readonly string[]>>;

/**
 * X-Twilio-Signature as Twilio computes it (https://www.twilio.com/docs/usage/webhooks/webhooks-security):
 * base64 of the HMAC-SHA1, keyed with the account's auth token, of the full URL Twilio
 * called (query string included) followed by every POST field sorted by name, each name
 * immediately followed by its value. Names sort by UTF-16 code unit (JavaScript's sort) and
 * a repeated name contributes its distinct values sorted, as twilio-node's
 * getExpectedTwilioSignature does (src/webhooks/webhooks.ts).
 */
export function twilioSignature(authToken: string, url: string, fields: FormFields): string {
  const hmac = createHmac('sha1', authToken).update(url, 'utf8');
  for (const name of Object.keys(fields).sort()) {
    const value = fields[name]!;
    const values = typeof value === 'string' ? [value] : [...new Set(value)].sort();
    for (const one of values) hmac.update(name + one, 'utf8');
  }
  return hmac.digest('base64');
}

/**
 * The URLs Twilio may have signed for `url`: as configured, without its port, and with its
 * port (the scheme's default when it names none). Twilio's signing is inconsistent about
 * ports, so its own validator (twilio-node validateRequest) accepts each of these.
 */
export function twilioSignedUrls(url: string): string[] {
  const parsed = new URL(url);
  const withoutPort = new URL(url);
  withoutPort.port = '';
  const port = parsed.port === '' ? (parsed.protocol === 'https:' ? '443' : '80') : parsed.port;
  const withPort = `${parsed.protocol}//${parsed.hostname}:${port}${parsed.pathname}${parsed.search}`;
  return [...new Set([url, withoutPort.toString(), withPort])];
}

/**
 * Whether `header` is Twilio's signature of this request to `url`. Compared with
 * timingSafeEqual: a base64 HMAC-SHA1 is always 28 characters, so a header of another
 * length is refused without comparing, which tells an attacker nothing about the token.
 */
export function verifyTwilioSignature(authToken: string, url: string, fields: FormFields, header: string | undefined): boolean {
  if (header === undefined || header === '') return false;
  const presented = Buffer.from(header, 'utf8');
  let valid = false;
  for (const candidate of twilioSignedUrls(url)) {
    const expected = Buffer.from(twilioSignature(authToken, candidate, fields), 'utf8');
    if (expected.length === presented.length && timingSafeEqual(expected, presented)) valid = true;
  }
  return valid;
}
