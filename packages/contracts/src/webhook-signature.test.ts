import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { newWebhookSecret, signWebhook, webhookHeaders, webhookIdOf, webhookKey } from './webhook-signature.ts';

// Checked against `standardwebhooks`, the reference JavaScript library of the Standard
// Webhooks spec: what it computes and accepts is what every receiver's library does.

const now = () => Math.floor(Date.now() / 1000);
/** A spec-sized key (24 to 64 random bytes) as `whsec_` + base64. */
const secret = fc.uint8Array({ minLength: 24, maxLength: 64 }).map((key) => `whsec_${Buffer.from(key).toString('base64')}`);
const webhookId = fc.string({ minLength: 1, maxLength: 60 });
const timestamp = fc.integer({ min: 0, max: 4_102_444_800 });
const body = fc.string({ unit: 'binary', maxLength: 2000 });

describe('webhook signatures (Standard Webhooks)', () => {
  it('match the example the reference libraries are tested with', () => {
    const example = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    expect(signWebhook(example, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1_614_265_330, '{"test": 2432232314}')).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  it('property: equal to the reference library for any key, id, timestamp and body, as text or bytes', () => {
    fc.assert(
      fc.property(secret, webhookId, timestamp, body, (key, id, at, text) => {
        const reference = new Webhook(key).sign(id, new Date(at * 1000), text);
        expect(signWebhook(key, id, at, text)).toBe(reference);
        expect(signWebhook(key, id, at, Buffer.from(text, 'utf8'))).toBe(reference);
      }),
    );
  });

  it('property: the headers of a POST verify with the reference library, within its 5 minutes', () => {
    fc.assert(
      fc.property(secret, fc.json(), fc.integer({ min: -290, max: 290 }), (key, json, skew) => {
        const id = webhookIdOf([json]);
        const headers = webhookHeaders(key, id, json, now() + skew);
        expect(new Webhook(key).verify(json, headers)).toEqual(JSON.parse(json));
        expect(headers).toMatchObject({ 'webhook-id': id, 'webhook-signature': expect.stringMatching(/^v1,[A-Za-z0-9+/]{43}=$/) });
      }),
    );
  });

  it('property: a changed body, another secret or a timestamp more than 5 minutes off is refused by it', () => {
    fc.assert(
      fc.property(secret, secret, fc.json(), fc.nat(), (key, other, json, at) => {
        fc.pre(key !== other);
        const headers = webhookHeaders(key, 'msg_x', json);
        const i = at % json.length;
        const tampered = `${json.slice(0, i)}${json[i] === ' ' ? '\t' : ' '}${json.slice(i)}`;
        expect(() => new Webhook(key).verify(tampered, headers)).toThrow(WebhookVerificationError);
        expect(() => new Webhook(other).verify(json, headers)).toThrow(WebhookVerificationError);
        for (const off of [-301, 301]) {
          expect(() => new Webhook(key).verify(json, webhookHeaders(key, 'msg_x', json, now() + off))).toThrow(/too old|too new/);
        }
      }),
    );
  });

  it('signs with the key the secret encodes: a base64url secret issued before names the same key as its base64 form', () => {
    const key = randomBytes(32);
    const standard = `whsec_${key.toString('base64')}`;
    const legacy = `whsec_${key.toString('base64url')}`;
    expect(webhookKey(standard)).toEqual(key);
    expect(webhookKey(legacy)).toEqual(key);
    const headers = webhookHeaders(legacy, 'msg_1', '{}');
    expect(new Webhook(standard).verify('{}', headers)).toEqual({});
    // The text of the secret is not the key: an HMAC keyed with it would not verify.
    expect(signWebhook(standard, 'msg_1', 1, '{}')).not.toBe(new Webhook(standard, { format: 'raw' }).sign('msg_1', new Date(1000), '{}'));
  });

  it('makes secrets of 32 random bytes in the standard form, which the reference library reads', () => {
    const made = new Set(Array.from({ length: 50 }, () => newWebhookSecret()));
    expect(made.size).toBe(50);
    for (const s of made) {
      expect(s).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(webhookKey(s)).toHaveLength(32);
      expect(new Webhook(s).verify('[]', webhookHeaders(s, 'msg_2', '[]'))).toEqual([]);
    }
  });

  it.each([
    ['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', /whsec_ followed by base64/],
    ['whsec_', /whsec_ followed by base64/],
    ['whsec_not base64 at all!', /whsec_ followed by base64/],
    ['whsec_a+b-c/d_', /whsec_ followed by base64/],
    [`whsec_${randomBytes(16).toString('base64')}`, /24 to 64 bytes, not 16/],
    [`whsec_${randomBytes(65).toString('base64')}`, /24 to 64 bytes, not 65/],
  ])('refuses the secret %j', (bad, message) => {
    expect(() => webhookKey(bad)).toThrow(message);
  });

  it('webhook-id: msg_ and 32 hex digits of the event ids, the same for the same events, another for any other list', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1 }), fc.string(), (ids, more) => {
        expect(webhookIdOf(ids)).toMatch(/^msg_[0-9a-f]{32}$/);
        expect(webhookIdOf([...ids])).toBe(webhookIdOf(ids));
        expect(webhookIdOf([...ids, more])).not.toBe(webhookIdOf(ids));
      }),
    );
    expect(webhookIdOf(['1', '2'])).not.toBe(webhookIdOf(['2', '1']));
  });
});
