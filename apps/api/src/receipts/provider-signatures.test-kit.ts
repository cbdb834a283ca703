import { createHmac } from 'node:crypto';

/*
 * The providers' signatures computed the way their documentation spells them out, written
 * apart from twilio-signature.ts and meta-signature.ts so that tests compare two
 * implementations rather than one with itself.
 */

/** The string Twilio signs: the URL, then each POST parameter sorted by name, name then value, nothing between. */
export function twilioSignedData(url: string, params: Readonly<Record<string, string>>): string {
  const names = Object.keys(params).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return names.reduce((data, name) => data + name + params[name], url);
}

/** base64(HMAC-SHA1(auth token, signed data)). */
export function twilioReference(authToken: string, url: string, params: Readonly<Record<string, string>>): string {
  return createHmac('sha1', Buffer.from(authToken, 'utf8'))
    .update(Buffer.from(twilioSignedData(url, params), 'utf8'))
    .digest('base64');
}

/** "sha256=" + hex(HMAC-SHA256(app secret, raw body)). */
export function metaReference(appSecret: string, body: string | Buffer): string {
  return 'sha256=' + createHmac('sha256', Buffer.from(appSecret, 'utf8')).update(body).digest('hex');
}
