import { createHash, createHmac, randomBytes } from 'node:crypto';

/*
 * Status webhooks are Standard Webhooks 1.0.0 (spec/standard-webhooks.md of
 * github.com/standard-webhooks/standard-webhooks, "Verifying webhook authenticity"), so a
 * receiver verifies them with any Standard Webhooks library (`standardwebhooks` on npm and
 * PyPI, …) and its secret, and nothing of ours:
 *
 *   webhook-id: msg_…            the same for every attempt of the same request
 *   webhook-timestamp: 1760000000 unix seconds of this attempt
 *   webhook-signature: v1,<base64 HMAC-SHA256 of `${id}.${timestamp}.${body}`>
 *
 * The HMAC key is the bytes the secret encodes ("base64 encoded, prefixed with whsec_"),
 * not the secret's text. Verifiers refuse timestamps more than 5 minutes from their clock
 * (the libraries' default), which refuses a replayed capture but not our retries: each
 * attempt is signed anew.
 */

const SECRET_PREFIX = 'whsec_';
// "Random. Between 24 bytes (192 bits) and 64 bytes (512 bits)" (the spec's signing secret).
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;
const NEW_KEY_BYTES = 32;

/** A fresh secret for a tenant's webhook: `whsec_` and the base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(NEW_KEY_BYTES).toString('base64')}`;
}

/**
 * The HMAC key a `whsec_` secret stands for. Secrets issued before Esh3ar followed the spec
 * are base64url without padding (`whsec_` + 43 characters); they encode the same kind of 32
 * random bytes, and Node's base64 decoder reads both alphabets, so they keep signing with
 * the very key they always named. A receiver gives a library the standard form of it:
 * `'whsec_' + Buffer.from(old.slice(6), 'base64url').toString('base64')`.
 */
export function webhookKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : '';
  if (!/^(?:[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+)$/.test(encoded)) throw new Error('a webhook secret is whsec_ followed by base64');
  const key = Buffer.from(encoded, 'base64');
  if (key.length < MIN_KEY_BYTES || key.length > MAX_KEY_BYTES) {
    throw new Error(`a webhook secret encodes ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} bytes, not ${key.length}`);
  }
  return key;
}

/**
 * The webhook-id of a request carrying these events: `msg_` and 128 bits of the SHA-256 of
 * their ids. A retry of the same request (the same events: the dispatcher re-reads the
 * oldest waiting ones) carries the same id, so receivers may de-duplicate on it as the spec
 * suggests. An id of the first event alone would not do: a retry may carry more events
 * than the attempt it repeats (3 waited then, 5 now), and a receiver that had seen the id
 * would drop the 2 new ones. No `.` in it: it is the first part of the signed content.
 */
export function webhookIdOf(eventIds: readonly string[]): string {
  return `msg_${createHash('sha256').update(eventIds.join(',')).digest('hex').slice(0, 32)}`;
}

/** The `v1,<base64>` signature of one request (`timestamp`: unix seconds of the attempt). */
export function signWebhook(secret: string, webhookId: string, timestamp: number, body: string | Uint8Array): string {
  const mac = createHmac('sha256', webhookKey(secret)).update(`${webhookId}.${timestamp}.`).update(body).digest('base64');
  return `v1,${mac}`;
}

/**
 * Every header of a webhook POST, signed at `nowSeconds`. One signature: a secret set
 * again replaces the old one at once, so there is never a second key to sign with (the
 * header is a space-separated list only to let senders rotate keys without a gap).
 */
export function webhookHeaders(
  secret: string,
  webhookId: string,
  body: string,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'Esh3ar-Webhooks/1',
    'webhook-id': webhookId,
    'webhook-timestamp': String(nowSeconds),
    'webhook-signature': signWebhook(secret, webhookId, nowSeconds, body),
  };
}
