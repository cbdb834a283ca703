import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Status webhooks are signed like Stripe's: HMAC-SHA256 of `${timestamp}.${rawBody}` with
 * the tenant's secret, sent as `Esh3ar-Signature: v1=<hex>` beside `Esh3ar-Timestamp:
 * <unix seconds>`. The timestamp is inside the MAC, so a receiver that refuses old
 * timestamps refuses replays of a captured request.
 */
export const WEBHOOK_TIMESTAMP_HEADER = 'esh3ar-timestamp';
export const WEBHOOK_SIGNATURE_HEADER = 'esh3ar-signature';
/** What receivers should accept by default: 5 minutes of clock skew and transit. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

const SCHEME = 'v1=';

function mac(secret: string, timestamp: string, body: string | Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

/** The Esh3ar-Signature header value for this timestamp (unix seconds) and raw body. */
export function signWebhook(secret: string, timestamp: number | string, body: string | Uint8Array): string {
  return `${SCHEME}${mac(secret, String(timestamp), body).toString('hex')}`;
}

/**
 * True when `signature` (the Esh3ar-Signature header: one or more comma-separated `v1=<hex>`)
 * holds a valid MAC of `${timestamp}.${body}` and `timestamp` (the Esh3ar-Timestamp header)
 * is within `toleranceSeconds` of `nowSeconds`. Pass the body exactly as received, before
 * any JSON parsing. Comparison is constant-time.
 */
export function verifyWebhookSignature(
  secret: string,
  timestamp: string | null | undefined,
  body: string | Uint8Array,
  signature: string | null | undefined,
  toleranceSeconds: number = WEBHOOK_TOLERANCE_SECONDS,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): boolean {
  if (typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp) || typeof signature !== 'string') return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;
  const expected = mac(secret, timestamp, body);
  return signature.split(',').some((part) => {
    const value = part.trim();
    if (!value.startsWith(SCHEME)) return false;
    const hex = value.slice(SCHEME.length);
    if (!/^[0-9a-f]{64}$/i.test(hex)) return false;
    return timingSafeEqual(Buffer.from(hex, 'hex'), expected);
  });
}
