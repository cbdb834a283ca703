import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { smsCost, smsCostOf } from './sms-cost.ts';

const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';

describe('smsCost', () => {
  it('counts GSM-7 at 160 characters for one segment and 153 a segment beyond', () => {
    expect(smsCost('a'.repeat(160))).toEqual({ encoding: 'GSM-7', segments: 1 });
    expect(smsCost('a'.repeat(161))).toEqual({ encoding: 'GSM-7', segments: 2 });
    expect(smsCost('a'.repeat(306))).toEqual({ encoding: 'GSM-7', segments: 2 });
    expect(smsCost('a'.repeat(307))).toEqual({ encoding: 'GSM-7', segments: 3 });
  });

  it('counts an extension character (€ [ ] { } ~ ^ | \\) as two septets', () => {
    expect(smsCost('€'.repeat(80))).toEqual({ encoding: 'GSM-7', segments: 1 });
    expect(smsCost('€'.repeat(81))).toEqual({ encoding: 'GSM-7', segments: 2 });
  });

  it('counts Arabic as UCS-2: 70 characters for one segment, 67 a segment beyond', () => {
    expect(smsCost('م'.repeat(70))).toEqual({ encoding: 'UCS-2', segments: 1 });
    expect(smsCost('م'.repeat(71))).toEqual({ encoding: 'UCS-2', segments: 2 });
    expect(smsCost('م'.repeat(134))).toEqual({ encoding: 'UCS-2', segments: 2 });
    expect(smsCost('م'.repeat(135))).toEqual({ encoding: 'UCS-2', segments: 3 });
  });

  it('makes a whole message UCS-2 for one character outside GSM-7', () => {
    expect(smsCost(`${'a'.repeat(100)}😀`)).toEqual({ encoding: 'UCS-2', segments: 2 });
  });

  it('is GSM-7 with ceil(septets / 153) segments for any text of the basic GSM alphabet past one segment', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...GSM_BASIC), minLength: 161, maxLength: 2000 }), (text) => {
        expect(smsCost(text)).toEqual({ encoding: 'GSM-7', segments: Math.ceil(text.length / 153) });
      }),
    );
  });

  it('is null for channels other than sms', () => {
    expect(smsCostOf('email', 'hello')).toBeNull();
    expect(smsCostOf('sms', 'hello')).toEqual({ encoding: 'GSM-7', segments: 1 });
  });
});
