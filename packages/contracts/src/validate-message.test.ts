import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateBatch, validateIdempotencyKey, validateMessage } from './validate-message.ts';

const storable = (text: string) => text.isWellFormed() && !text.includes('\u0000');
const codePoints = (text: string) => [...text].length;

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
        sendAt: null,
      },
    });
    const withFallback = validateMessage({ recipient: '+966501234567', content: 'hi', fallback: 'sms' });
    expect(withFallback.ok && withFallback.value.fallbackAfterSeconds).toBe(60);
  });

  it('reads sendAt as an instant in UTC, a past one as now, and refuses one too far ahead or without a zone', () => {
    const now = Date.parse('2026-12-04T12:00:00Z');
    const sendAt = (value: unknown) => validateMessage({ recipient: '+966501234567', content: 'hi', sendAt: value }, now);
    expect(sendAt('2026-12-05T09:00:00+03:00')).toMatchObject({ ok: true, value: { sendAt: '2026-12-05T06:00:00.000Z' } });
    expect(sendAt('2026-12-04T11:59:59Z')).toMatchObject({ ok: true, value: { sendAt: null } });
    expect(sendAt('2027-01-08T12:00:00Z')).toMatchObject({ ok: true, value: { sendAt: '2027-01-08T12:00:00.000Z' } });
    expect(sendAt('2027-01-08T12:00:01Z')).toMatchObject({ ok: false, message: '"sendAt" must be at most 35 days ahead' });
    for (const bad of [
      '2026-12-05T09:00:00',
      '2026-12-05',
      'tomorrow',
      '2026-02-30T00:00:00Z',
      1733313600,
      null,
      '2026-12-05T09:00:00Z\n',
    ]) {
      const result = sendAt(bad);
      expect(result.ok, String(bad)).toBe(false);
      if (!result.ok) expect(result.details[0]?.path).toBe('/sendAt');
    }
  });

  it('accepts an email recipient only for channel email', () => {
    expect(validateMessage({ recipient: 'a@example.com', content: 'hi', channel: 'email' }).ok).toBe(true);
    expect(validateMessage({ recipient: 'a@example.com', content: 'hi', channel: 'sms' }).ok).toBe(false);
  });

  it('names the field and says what is expected', () => {
    const r = validateMessage({ recipient: '12345', content: 'hi' });
    expect(r).toMatchObject({ ok: false, message: '"recipient" must be an E.164 phone number such as +966501234567' });
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
      fc.property(
        fc.string({
          unit: fc.oneof(fc.constantFrom('\u0000', '\ud800', '\udc00', 'a', '\t', '😀'), fc.string({ unit: 'binary', maxLength: 1 })),
          maxLength: 60,
        }),
        (content) => {
          const expected = content.length >= 1 && content.length <= 4096 && !content.includes('\u0000') && content.isWellFormed();
          expect(validateMessage({ recipient: '+966501234567', content }).ok).toBe(expected);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('property: metadata is accepted iff it has at most 16 entries, keys of 1 to 64 characters and string values of at most 1024, all storable', () => {
    const piece = fc.constantFrom('\u0000', '\ud800', '\udfff', '\n', '\r', '\u2028', '\t', '\\', '/', '~', '😀', 'k');
    const text = fc.oneof(
      fc.string({ unit: piece, maxLength: 8 }),
      fc.constantFrom(64, 65, 1024, 1025).chain((n) => fc.constantFrom('k', '😀').map((c) => c.repeat(n))),
    );
    fc.assert(
      fc.property(
        fc.dictionary(text, fc.oneof({ weight: 4, arbitrary: text }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }), {
          maxKeys: 18,
        }),
        (metadata) => {
          const entries = Object.entries(metadata);
          const expected =
            entries.length <= 16 &&
            entries.every(
              ([k, v]) =>
                storable(k) && codePoints(k) >= 1 && codePoints(k) <= 64 && typeof v === 'string' && storable(v) && codePoints(v) <= 1024,
            );
          const result = validateMessage({ recipient: '+966501234567', content: 'x', metadata });
          expect(result.ok).toBe(expected);
          if (!result.ok) expect(result.details[0]!.path).toMatch(/^\/metadata(\/|$)/);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses a message far wider than a valid one in the words it gives one just too wide (looking at the first few keys)', () => {
    const keys = (n: number, prefix: string) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, 'v']));
    const base = { recipient: '+966501234567', content: 'x' };
    // 80,000 metadata entries took half a second to refuse: TypeBox checked and described them all.
    const wideMetadata = validateMessage({ ...base, metadata: keys(80_000, 'k') });
    expect(wideMetadata).toEqual(validateMessage({ ...base, metadata: keys(17, 'k') }));
    expect(wideMetadata).toMatchObject({ ok: false, message: '"metadata" must have at most 16 entries' });
    const wideTop = validateMessage({ ...base, ...keys(80_000, 'x') });
    expect(wideTop).toEqual(validateMessage({ ...base, ...keys(8, 'x') }));
    expect(wideTop).toMatchObject({ ok: false, message: 'unknown field "x0"' });
    // The other fields are still checked beside the cut metadata.
    const alsoBad = validateMessage({ recipient: 5, content: 'x', metadata: keys(80_000, 'k') });
    expect(alsoBad).toEqual(validateMessage({ recipient: 5, content: 'x', metadata: keys(17, 'k') }));
    expect(alsoBad.ok ? [] : alsoBad.details.map((d) => d.path)).toEqual(expect.arrayContaining(['/recipient', '/metadata']));
    // A "__proto__" key stays a key to refuse, not a prototype.
    const proto = JSON.parse(
      `{"recipient":"+966501234567","content":"x","metadata":{${Array.from({ length: 20 }, (_, i) => `"k${i}":"v"`).join(',')},"__proto__":"x"}}`,
    ) as unknown;
    expect(validateMessage(proto)).toMatchObject({ ok: false, message: '"metadata" must have at most 16 entries' });
  });

  it('points at the metadata key, encoded as a JSON Pointer, and says what is wrong in words', () => {
    const r = validateMessage({ recipient: '+966501234567', content: 'x', metadata: { 'a/b~\n': 5 } });
    expect(r).toEqual({
      ok: false,
      message: '"metadata.a/b~\\n" must be a string',
      details: [{ path: '/metadata/a~1b~0\n', message: '"metadata.a/b~\\n" must be a string' }],
    });
    const key = validateMessage({ recipient: '+966501234567', content: 'x', metadata: { '': 'v' } });
    expect(key).toMatchObject({
      ok: false,
      details: [{ path: '/metadata/', message: 'keys of "metadata" must not be empty' }],
    });
  });

  it('takes an Idempotency-Key of 1 to 255 storable characters, or none', () => {
    expect(validateIdempotencyKey(undefined)).toEqual({ ok: true, value: null });
    expect(validateIdempotencyKey('\t\u00ff'.repeat(127) + 'k')).toMatchObject({ ok: true });
    for (const bad of ['', 'k'.repeat(256), 'a\u0000', 'a\udc00', ['a', 'b']]) {
      expect(validateIdempotencyKey(bad)).toMatchObject({ ok: false, details: [{ path: 'headers/idempotency-key' }] });
    }
  });

  it('takes a batch envelope of 1 to 1000 messages and names what is wrong with another', () => {
    expect(validateBatch({ messages: [1, 'x'] })).toEqual({ ok: true, value: [1, 'x'] });
    expect(validateBatch({ messages: [], extra: 1 })).toMatchObject({
      ok: false,
      details: [{ path: '/extra', message: expect.stringMatching(/^unknown field "extra"/) }],
    });
    expect(validateBatch([])).toMatchObject({ ok: false, details: [{ path: '/' }] });
    expect(validateBatch({ messages: Array.from({ length: 1001 }, () => ({})) })).toMatchObject({
      ok: false,
      details: [{ path: '/messages' }],
    });
  });
});
