import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * X-Hub-Signature-256 as Meta computes it for every webhook POST
 * (https://developers.facebook.com/docs/graph-api/webhooks/getting-started, "Validating
 * payloads"): "sha256=" and the hex HMAC-SHA256 of the raw body, keyed with the app secret.
 * Over the bytes received, never over re-encoded JSON: Meta escapes non-ASCII as \uXXXX.
 */
export function metaSignature(appSecret: string, body: Buffer): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

const HEADER = /^sha256=([0-9a-f]{64})$/i;

/** Whether `header` is Meta's signature of `body`; compared as digests of equal length with timingSafeEqual. */
export function verifyMetaSignature(appSecret: string, body: Buffer, header: string | undefined): boolean {
  const match = header === undefined ? null : HEADER.exec(header.trim());
  if (match === null) return false;
  const expected = createHmac('sha256', appSecret).update(body).digest();
  return timingSafeEqual(Buffer.from(match[1]!, 'hex'), expected);
}
