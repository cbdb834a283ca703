import { createHmac } from 'node:crypto';

/**
 * X-Hub-Signature-256 as Meta signs every webhook POST
 * (https://developers.facebook.com/docs/graph-api/webhooks/getting-started, "Validating
 * payloads"): "sha256=" and the lowercase hex HMAC-SHA256 of the raw body bytes, keyed
 * with the app secret.
 */
export function metaSignature(appSecret: string, body: Buffer): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}
