import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhookSignature } from './webhook-signature.ts';

const NOW = 1_760_000_000;
const secret = fc.string({ minLength: 1, maxLength: 80 });
const body = fc.uint8Array({ minLength: 1, maxLength: 2000 });

describe('webhook signatures', () => {
  it('is the hex HMAC-SHA256 of "timestamp.body" with the secret, prefixed v1=', () => {
    const raw = '{"events":[]}';
    const hex = createHmac('sha256', 'whsec_test').update(`${NOW}.${raw}`).digest('hex');
    expect(signWebhook('whsec_test', NOW, raw)).toBe(`v1=${hex}`);
    expect(verifyWebhookSignature('whsec_test', String(NOW), raw, `v1=${hex}`, 300, NOW)).toBe(true);
    expect(verifyWebhookSignature('whsec_test', String(NOW), raw, `v1=${hex.toUpperCase()}`, 300, NOW)).toBe(true);
  });

  it('property: what is signed verifies, as a string or as bytes, within the tolerance', () => {
    fc.assert(
      fc.property(secret, body, fc.integer({ min: -300, max: 300 }), (key, bytes, skew) => {
        const signature = signWebhook(key, NOW, bytes);
        expect(verifyWebhookSignature(key, String(NOW), bytes, signature, 300, NOW + skew)).toBe(true);
        expect(verifyWebhookSignature(key, String(NOW), Buffer.from(bytes), signature, 300, NOW + skew)).toBe(true);
      }),
    );
  });

  it('property: any change of one byte of the body breaks the signature', () => {
    fc.assert(
      fc.property(secret, body, fc.nat(), fc.integer({ min: 1, max: 255 }), (key, bytes, at, delta) => {
        const signature = signWebhook(key, NOW, bytes);
        const tampered = Uint8Array.from(bytes);
        const i = at % tampered.length;
        tampered[i] = (tampered[i]! + delta) % 256;
        expect(verifyWebhookSignature(key, String(NOW), tampered, signature, 300, NOW)).toBe(false);
      }),
    );
  });

  it('property: another secret or another timestamp does not verify', () => {
    fc.assert(
      fc.property(secret, secret, body, fc.integer({ min: 1, max: 100 }), (key, other, bytes, shift) => {
        fc.pre(key !== other);
        const signature = signWebhook(key, NOW, bytes);
        expect(verifyWebhookSignature(other, String(NOW), bytes, signature, 300, NOW)).toBe(false);
        expect(verifyWebhookSignature(key, String(NOW + shift), bytes, signature, 300, NOW)).toBe(false);
      }),
    );
  });

  it('refuses a timestamp outside the tolerance (a replay), and malformed headers', () => {
    const raw = '{"events":[]}';
    const old = NOW - 301;
    expect(verifyWebhookSignature('k', String(old), raw, signWebhook('k', old, raw), 300, NOW)).toBe(false);
    const future = NOW + 301;
    expect(verifyWebhookSignature('k', String(future), raw, signWebhook('k', future, raw), 300, NOW)).toBe(false);
    const good = signWebhook('k', NOW, raw);
    for (const [timestamp, signature] of [
      [undefined, good],
      [String(NOW), undefined],
      [`${NOW}.5`, good],
      [` ${NOW}`, good],
      [String(NOW), good.slice(3)],
      [String(NOW), `v0=${good.slice(3)}`],
      [String(NOW), good.slice(0, -2)],
      [String(NOW), ''],
    ] as const) {
      expect(verifyWebhookSignature('k', timestamp, raw, signature, 300, NOW), `${timestamp} ${signature}`).toBe(false);
    }
  });

  it('accepts any one valid v1 among several (a receiver rotating secrets)', () => {
    const raw = 'x';
    const header = `${signWebhook('old', NOW, raw)}, ${signWebhook('new', NOW, raw)}`;
    expect(verifyWebhookSignature('new', String(NOW), raw, header, 300, NOW)).toBe(true);
    expect(verifyWebhookSignature('other', String(NOW), raw, header, 300, NOW)).toBe(false);
  });
});
