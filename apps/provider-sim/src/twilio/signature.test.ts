import { webcrypto } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { twilioSignature } from './signature.ts';

/**
 * Twilio's algorithm written again from its documentation
 * (https://www.twilio.com/docs/usage/webhooks/webhooks-security), by other means than the
 * simulator's: fields sorted by an explicit code-unit comparison, the HMAC from WebCrypto.
 */
async function verify(authToken: string, url: string, params: Record<string, string>, signature: string): Promise<boolean> {
  const signed =
    url +
    Object.entries(params)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => `${name}${value}`)
      .join('');
  const encoder = new TextEncoder();
  const key = await webcrypto.subtle.importKey('raw', encoder.encode(authToken), { name: 'HMAC', hash: 'SHA-1' }, false, ['verify']);
  return webcrypto.subtle.verify('HMAC', key, Buffer.from(signature, 'base64'), encoder.encode(signed));
}

const token = fc.string({ minLength: 1, maxLength: 40 });
const name = fc.string({ minLength: 1, maxLength: 20 }).filter((n) => n !== '__proto__');
const fields = fc.dictionary(name, fc.string({ maxLength: 40 }), { minKeys: 1, maxKeys: 10 });
const url = fc.webUrl({ withQueryParameters: true });

describe('twilioSignature', () => {
  it("reproduces the vector of Twilio's own helper libraries", () => {
    // The RequestValidator tests of twilio-php and twilio-csharp: token 12345, this URL and these fields.
    const params = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' };
    expect(twilioSignature('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2', params)).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
  });

  it('verifies with an independent implementation of the algorithm, for any URL, fields and token', async () => {
    await fc.assert(
      fc.asyncProperty(token, url, fields, async (authToken, callbackUrl, params) => {
        expect(await verify(authToken, callbackUrl, params, twilioSignature(authToken, callbackUrl, params))).toBe(true);
      }),
    );
  });

  it('no longer verifies once a field value, a field, the URL or the token changes', async () => {
    const change = fc.oneof(
      fc.record({ kind: fc.constant('value' as const), at: fc.nat(), to: fc.string({ maxLength: 40 }) }),
      fc.record({ kind: fc.constant('added' as const), name, value: fc.string({ minLength: 1, maxLength: 40 }) }),
      fc.record({ kind: fc.constant('url' as const), to: url }),
      fc.record({ kind: fc.constant('token' as const), to: token }),
    );
    await fc.assert(
      fc.asyncProperty(token, url, fields, change, async (authToken, callbackUrl, params, c) => {
        const signature = twilioSignature(authToken, callbackUrl, params);
        const names = Object.keys(params);
        const changed = { ...params };
        let [u, t] = [callbackUrl, authToken];
        if (c.kind === 'value') {
          const field = names[c.at % names.length]!;
          fc.pre(changed[field] !== c.to);
          changed[field] = c.to;
        } else if (c.kind === 'added') {
          fc.pre(!(c.name in changed));
          changed[c.name] = c.value;
        } else if (c.kind === 'url') {
          fc.pre(c.to !== callbackUrl);
          u = c.to;
        } else {
          fc.pre(c.to !== authToken);
          t = c.to;
        }
        expect(await verify(t, u, changed, signature)).toBe(false);
      }),
    );
  });
});
