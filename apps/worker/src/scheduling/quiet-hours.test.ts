import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { holdUntil, quietHold, windowEnd } from './quiet-hours.ts';

const HOUR_MS = 3_600_000;
// Zones with the shapes that break naive arithmetic: DST both ways and on both hemispheres,
// half-hour and 45-minute offsets, Lord Howe's half-hour DST, Samoa's skipped day (2011),
// Morocco's Ramadan change, and none at all.
const ZONES = [
  'UTC',
  'Asia/Riyadh',
  'America/New_York',
  'Europe/London',
  'America/Santiago',
  'Australia/Lord_Howe',
  'Pacific/Chatham',
  'Asia/Kolkata',
  'America/St_Johns',
  'Pacific/Apia',
  'Africa/Casablanca',
];

/** The local date and time at `t`, read by Intl rather than by the code under test. */
const formats = new Map<string, Intl.DateTimeFormat>();
function localFields(zone: string, t: number): [number, number, number, number, number] {
  let format = formats.get(zone);
  if (format === undefined) {
    const digits = '2-digit' as const;
    format = new Intl.DateTimeFormat('en-GB', {
      timeZone: zone,
      year: 'numeric',
      month: digits,
      day: digits,
      hour: digits,
      minute: digits,
      hourCycle: 'h23',
    });
    formats.set(zone, format);
  }
  const parts = format.formatToParts(t);
  const part = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return [part('year'), part('month') - 1, part('day'), part('hour'), part('minute')];
}
const localMinute = (zone: string, t: number) => {
  const [, , , hour, minute] = localFields(zone, t);
  return hour * 60 + minute;
};
/** The zone's UTC offset at `t`, in minutes. */
const offsetMinutes = (zone: string, t: number) => (Date.UTC(...localFields(zone, t)) - Math.floor(t / 60_000) * 60_000) / 60_000;

const hhmm = (minutes: number) => `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
const insideAt = (zone: string, t: number, starts: number, ends: number) => {
  const m = localMinute(zone, t);
  return starts < ends ? m >= starts && m < ends : m >= starts || m < ends;
};

const windows = fc
  .tuple(fc.integer({ min: 0, max: 1439 }), fc.integer({ min: 0, max: 1439 }))
  .filter(([s, e]) => s !== e)
  .map(([s, e]) => ({ starts: s, ends: e, quiet: { starts: hhmm(s), ends: hhmm(e), defaultTimeZone: 'UTC' } }));
const FROM = Date.UTC(2010, 0, 1);
const TO = Date.UTC(2032, 0, 1);
const instants = fc.integer({ min: FROM, max: TO });
// Uniform instants seldom fall near a change of offset (a few hours a year): half the cases
// are drawn within 30 hours of one, found by sampling each zone's offset daily.
const changes = ZONES.flatMap((zone) => {
  const found: { zone: string; t: number }[] = [];
  for (let t = FROM, before = offsetMinutes(zone, FROM); t < TO; t += 24 * HOUR_MS) {
    const now = offsetMinutes(zone, t);
    if (now !== before) found.push({ zone, t });
    before = now;
  }
  return found;
});
const zonedInstants = fc.oneof(
  fc.record({ zone: fc.constantFrom(...ZONES), at: instants }),
  fc
    .tuple(fc.constantFrom(...changes), fc.integer({ min: -30 * HOUR_MS, max: 30 * HOUR_MS }))
    .map(([c, d]) => ({ zone: c.zone, at: c.t + d })),
);

describe('windowEnd', () => {
  it('is null outside the window; inside, the first instant after it outside the window, within a day, at the window’s end', () => {
    fc.assert(
      fc.property(zonedInstants, windows, ({ zone, at }, { starts, ends, quiet }) => {
        const end = windowEnd(quiet, zone, at);
        if (!insideAt(zone, at, starts, ends)) return end === null;
        expect(end).not.toBeNull();
        const t = end!.getTime();
        expect(t).toBeGreaterThan(at);
        // A day of wall-clock time: 24 h, one more across the night a clock goes back; a day
        // more where the clock jumps over every minute outside the window (01:23–01:22 in
        // London on 2019-03-31, whose 01:22 never came).
        const skipped = offsetMinutes(zone, t) > offsetMinutes(zone, at);
        expect(t - at).toBeLessThanOrEqual((skipped ? 49 : 25) * HOUR_MS);
        expect(insideAt(zone, t, starts, ends)).toBe(false);
        // The first such instant: every minute before it, back to `at`, is inside.
        expect(insideAt(zone, t - 1, starts, ends)).toBe(true);
        for (let probe = at; probe < t; probe += 10 * 60_000) expect(insideAt(zone, probe, starts, ends)).toBe(true);
        // The clock then reads the window's end, unless that time of day was skipped (a DST gap): then the clock has just jumped.
        if (localMinute(zone, t) !== ends) expect(offsetMinutes(zone, t)).not.toBe(offsetMinutes(zone, t - 1));
        return true;
      }),
      { numRuns: 3000 },
    );
  });

  it('ends at the window’s end in the recipient’s local time, past midnight when the window wraps', () => {
    const quiet = { starts: '21:00', ends: '08:00' };
    // 23:00 in Riyadh (UTC+3, no DST): held until 08:00 the next morning.
    expect(windowEnd(quiet, 'Asia/Riyadh', Date.parse('2026-12-04T20:00:00Z'))?.toISOString()).toBe('2026-12-05T05:00:00.000Z');
    expect(windowEnd(quiet, 'Asia/Riyadh', Date.parse('2026-12-05T04:59:59.999Z'))?.toISOString()).toBe('2026-12-05T05:00:00.000Z');
    expect(windowEnd(quiet, 'Asia/Riyadh', Date.parse('2026-12-05T05:00:00Z'))).toBeNull();
    expect(windowEnd(quiet, 'Asia/Riyadh', Date.parse('2026-12-04T17:59:59Z'))).toBeNull();
  });

  it('takes the first of a time of day that comes twice, and the jump over one that never comes', () => {
    // New York goes back from 02:00 EDT to 01:00 EST on 2026-11-01: 01:10 EDT is held to 01:30 EDT, not EST.
    expect(windowEnd({ starts: '00:30', ends: '01:30' }, 'America/New_York', Date.parse('2026-11-01T05:10:00Z'))?.toISOString()).toBe(
      '2026-11-01T05:30:00.000Z',
    );
    // It jumps from 02:00 EST to 03:00 EDT on 2026-03-08: a window ending at 02:30 ends at the jump.
    expect(windowEnd({ starts: '01:00', ends: '02:30' }, 'America/New_York', Date.parse('2026-03-08T06:30:00Z'))?.toISOString()).toBe(
      '2026-03-08T07:00:00.000Z',
    );
  });
});

describe('quietHold', () => {
  const quiet = { starts: '21:00', ends: '08:00', defaultTimeZone: 'America/Chicago' };

  it('never holds a critical message, and holds the others as holdUntil says, with the reason in words', () => {
    fc.assert(
      fc.property(
        windows,
        instants,
        fc.constantFrom('low', 'normal', 'high', 'critical' as const),
        fc.constantFrom('+966501234567', '+12125550123', '+447911123456', '+61412345678'),
        ({ quiet: w }, at, priority, recipient) => {
          const hold = quietHold(w, { recipient, channel: 'sms', priority }, at);
          if (priority === 'critical') return hold === null;
          const until = holdUntil(w, recipient, 'sms', at);
          expect(hold?.until ?? null).toEqual(until);
          if (hold !== null)
            expect(hold.reason).toMatch(new RegExp(`^quiet hours ${w.starts}–${w.ends} in .+: held until ${until!.toISOString()}$`));
          return true;
        },
      ),
      { numRuns: 500 },
    );
  });

  it('reads the recipient’s country’s zone; the tenant’s default for several zones and for email; nothing without quiet hours', () => {
    const at = Date.parse('2026-12-04T20:00:00Z'); // 23:00 in Riyadh, 14:00 in Chicago, 15:00 in New York
    expect(quietHold(quiet, { recipient: '+966501234567', channel: 'app', priority: 'normal' }, at)).toEqual({
      until: new Date('2026-12-05T05:00:00.000Z'),
      reason: 'quiet hours 21:00–08:00 in Asia/Riyadh: held until 2026-12-05T05:00:00.000Z',
    });
    // The United States has several zones: the default, Chicago, where it is 14:00.
    expect(quietHold(quiet, { recipient: '+12125550123', channel: 'sms', priority: 'low' }, at)).toBeNull();
    const late = Date.parse('2026-12-05T04:00:00Z'); // 22:00 in Chicago
    expect(quietHold(quiet, { recipient: '+12125550123', channel: 'sms', priority: 'low' }, late)?.reason).toBe(
      'quiet hours 21:00–08:00 in America/Chicago: held until 2026-12-05T14:00:00.000Z',
    );
    expect(quietHold(quiet, { recipient: 'someone@example.com', channel: 'email', priority: 'high' }, late)?.until).toEqual(
      new Date('2026-12-05T14:00:00.000Z'),
    );
    expect(quietHold(undefined, { recipient: '+966501234567', channel: 'app', priority: 'normal' }, at)).toBeNull();
  });
});
