import { webcrypto } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { metaSignature } from './signature.ts';

/**
 * Meta's check written again from its documentation
 * (https://developers.facebook.com/docs/graph-api/webhooks/getting-started, "Validating
 * payloads"), by other means than the simulator's: the header must be "sha256=" and 64 hex
 * digits, which WebCrypto verifies as the HMAC-SHA256 of the raw body keyed with the app
 * secret.
 */
async function verify(appSecret: string, body: Uint8Array, header: string): Promise<boolean> {
  const match = /^sha256=([0-9a-f]{64})$/.exec(header);
  if (match === null) return false;
  const key = await webcrypto.subtle.importKey('raw', new TextEncoder().encode(appSecret), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'verify',
  ]);
  return webcrypto.subtle.verify('HMAC', key, Buffer.from(match[1]!, 'hex'), body);
}

const secret = fc.string({ minLength: 1, maxLength: 64 });
const body = fc.uint8Array({ minLength: 1, maxLength: 2000 });

describe('metaSignature', () => {
  it('is "sha256=" and the hex HMAC-SHA256 of RFC 4231 test case 2', () => {
    expect(metaSignature('Jefe', Buffer.from('what do ya want for nothing?'))).toBe(
      'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('verifies with an independent implementation, for any body and app secret', async () => {
    await fc.assert(
      fc.asyncProperty(secret, body, async (appSecret, bytes) => {
        expect(await verify(appSecret, bytes, metaSignature(appSecret, Buffer.from(bytes)))).toBe(true);
      }),
    );
  });

  it('no longer verifies once any byte of the body changes, or the secret does', async () => {
    const change = fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) });
    await fc.assert(
      fc.asyncProperty(secret, body, change, secret, async (appSecret, bytes, c, other) => {
        const header = metaSignature(appSecret, Buffer.from(bytes));
        const changed = Uint8Array.from(bytes);
        changed[c.at % changed.length]! ^= c.xor;
        expect(await verify(appSecret, changed, header)).toBe(false);
        fc.pre(other !== appSecret);
        expect(await verify(other, bytes, header)).toBe(false);
      }),
    );
  });
});
