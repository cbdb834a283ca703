import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CLOCK_TIME_WORDS, knownTimeZone } from './quiet-hours.ts';
import { validateQuietHours } from './validate-quiet-hours.ts';

const pad = (n: number) => String(n).padStart(2, '0');
const clockTime = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(([h, m]) => `${pad(h)}:${pad(m)}`);

describe('validateQuietHours', () => {
  it('property: any two different HH:MM times make a window, the same time twice none', () => {
    fc.assert(
      fc.property(clockTime, clockTime, (start, end) => {
        const r = validateQuietHours({ start, end, defaultTimeZone: 'Asia/Riyadh' });
        if (start === end) expect(r).toMatchObject({ ok: false, details: [{ path: '/end' }] });
        else expect(r).toEqual({ ok: true, value: { start, end, defaultTimeZone: 'Asia/Riyadh' } });
      }),
    );
  });

  it('property: a time that is not HH:MM from 00:00 to 23:59 is refused in words, naming the field', () => {
    const notClockTime = fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => !/^([01]\d|2[0-3]):[0-5]\d$/.test(s));
    fc.assert(
      fc.property(notClockTime, (start) => {
        const r = validateQuietHours({ start, end: '08:00', defaultTimeZone: 'UTC' });
        expect(r).toEqual({
          ok: false,
          message: `"start" ${CLOCK_TIME_WORDS}`,
          details: [{ path: '/start', message: `"start" ${CLOCK_TIME_WORDS}` }],
        });
      }),
    );
  });

  it('takes every zone Intl lists, by the name Intl gives it', () => {
    for (const zone of Intl.supportedValuesOf('timeZone')) {
      expect(knownTimeZone(zone), zone).toBe(zone);
      expect(knownTimeZone(zone.toLowerCase()), zone).toBe(zone);
    }
  });

  it('property: refuses what is not a zone, never throws', () => {
    expect(knownTimeZone('+03:00')).toBeNull();
    expect(knownTimeZone('Mars/Olympus')).toBeNull();
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (name) => {
        const known = knownTimeZone(name);
        if (known !== null) expect(knownTimeZone(known)).toBe(known);
      }),
    );
  });
});
