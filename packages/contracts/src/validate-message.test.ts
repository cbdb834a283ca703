import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateMessage } from './validate-message.ts';

describe('validateMessage', () => {
  it('fills in the contract defaults', () => {
    expect(validateMessage({ recipient: '+966501234567', content: 'hi' })).toEqual({
      ok: true,
      value: {
        recipient: '+966501234567',
        content: 'hi',
        subject: null,
        priority: 'normal',
        channel: 'app',
        ttlSeconds: null,
        fallback: null,
        fallbackAfterSeconds: null,
        metadata: null,
      },
    });
    const withFallback = validateMessage({ recipient: '+966501234567', content: 'hi', fallback: 'sms' });
    expect(withFallback.ok && withFallback.value.fallbackAfterSeconds).toBe(60);
  });

  it('accepts an email recipient only for channel email', () => {
    expect(validateMessage({ recipient: 'a@example.com', content: 'hi', channel: 'email' }).ok).toBe(true);
    expect(validateMessage({ recipient: 'a@example.com', content: 'hi', channel: 'sms' }).ok).toBe(false);
  });

  it('names the field and says what is expected', () => {
    const r = validateMessage({ recipient: '12345', content: 'hi' });
    expect(r).toMatchObject({ ok: false, message: 'recipient must be an E.164 phone number' });
  });

  it('property: E.164 is a plus and 8 to 15 digits, the first not zero', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\+?[0-9]{0,17}$/), (recipient) => {
        const expected = /^\+[1-9][0-9]{7,14}$/.test(recipient);
        expect(validateMessage({ recipient, content: 'x' }).ok).toBe(expected);
      }),
    );
  });

  it('property: content is accepted iff it is 1..4096 characters of well-formed Unicode without U+0000', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(fc.constantFrom('\u0000', '\ud800', '\udc00', 'a', '\t', '😀'), fc.string({ unit: 'binary', maxLength: 1 })), maxLength: 60 }), (content) => {
        const expected = content.length >= 1 && content.length <= 4096 && !content.includes('\u0000') && content.isWellFormed();
        expect(validateMessage({ recipient: '+966501234567', content }).ok).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });
});
