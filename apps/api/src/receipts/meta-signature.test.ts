import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { metaSignature, verifyMetaSignature } from './meta-signature.ts';
import { metaReference } from './provider-signatures.test-kit.ts';

const SECRET = '6c2f0b1e9d8a7c6b5a4f3e2d1c0b9a88';

describe('X-Hub-Signature-256', () => {
  it('verifies what an independent implementation signs, and nothing after one byte changed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (bytes, at, flip) => {
        const body = Buffer.from(bytes);
        const header = metaReference(SECRET, body);
        expect(metaSignature(SECRET, body)).toBe(header);
        expect(verifyMetaSignature(SECRET, body, header)).toBe(true);
        expect(verifyMetaSignature(SECRET, body, header.toUpperCase().replace('SHA256=', 'sha256='))).toBe(true);
        if (body.length === 0) return;
        const changed = Buffer.from(body);
        const i = at % body.length;
        changed[i] = changed[i]! ^ flip;
        expect(verifyMetaSignature(SECRET, changed, header)).toBe(false);
      }),
    );
  });

  it('refuses a missing header, another scheme, a truncated digest and another secret', () => {
    const body = Buffer.from('{"object":"whatsapp_business_account","entry":[]}');
    const header = metaReference(SECRET, body);
    expect(verifyMetaSignature(SECRET, body, undefined)).toBe(false);
    expect(verifyMetaSignature(SECRET, body, header.replace('sha256=', 'sha1='))).toBe(false);
    expect(verifyMetaSignature(SECRET, body, header.slice(0, -2))).toBe(false);
    expect(verifyMetaSignature(SECRET, body, header.slice('sha256='.length))).toBe(false);
    expect(verifyMetaSignature(`${SECRET}x`, body, header)).toBe(false);
  });
});
