import { Type, type Static } from 'typebox';

/** A time of day as quiet hours take it: 24-hour HH:MM, minutes the finest step (no seconds). */
export const CLOCK_TIME_PATTERN = '^([01][0-9]|2[0-3]):[0-5][0-9]$';
export const CLOCK_TIME_WORDS = 'must be a 24-hour time HH:MM from 00:00 to 23:59, such as 21:00';
/** The longest IANA name today has 32 characters (America/Argentina/ComodRivadavia): room to spare, and a bound on what Intl is asked. */
export const TIME_ZONE_MAX_CHARS = 64;
export const SAME_START_AND_END = 'start and end must differ: a window of 0 or 24 hours is not quiet hours';

const ClockTime = (description: string) => Type.String({ pattern: CLOCK_TIME_PATTERN, description });

/** PUT /v1/admin/tenants/{tenantId}/quiet-hours. */
export const QuietHoursRequest = Type.Object(
  {
    start: ClockTime('When the window opens, in the recipient’s local time (HH:MM, 24-hour)'),
    end: ClockTime('When it closes; before `start` when the window runs past midnight (21:00 to 08:00)'),
    defaultTimeZone: Type.String({
      minLength: 1,
      maxLength: TIME_ZONE_MAX_CHARS,
      description: 'An IANA time zone name (Asia/Riyadh): for a country with several zones, and for recipients without a phone number',
    }),
  },
  { additionalProperties: false },
);
export type QuietHoursRequest = Static<typeof QuietHoursRequest>;

/** A tenant's quiet hours as the admin API and the CLI show them. */
export const QuietHoursView = Type.Object({
  tenantId: Type.String({ format: 'uuid' }),
  start: Type.String({ pattern: CLOCK_TIME_PATTERN }),
  end: Type.String({ pattern: CLOCK_TIME_PATTERN }),
  defaultTimeZone: Type.String(),
  updatedAt: Type.String({ format: 'date-time' }),
});
export type QuietHoursView = Static<typeof QuietHoursView>;

export const unknownTimeZoneWords = (name: string) => `unknown time zone ${JSON.stringify(name)}: use an IANA name such as Europe/London`;

/**
 * The name Node's Intl knows `name` by (its case fixed: asia/riyadh is Asia/Riyadh), or null
 * when it knows no such zone. Intl is what turns a time into the recipient's local time,
 * so a zone it knows is one the workers can apply. Node 24's Intl also takes an offset
 * (+03:00), which is no IANA name and keeps no daylight saving time: every IANA name begins
 * with a letter, and nothing else is taken.
 */
export function knownTimeZone(name: string): string | null {
  if (!/^[A-Za-z]/.test(name)) return null;
  try {
    return new Intl.DateTimeFormat('en', { timeZone: name }).resolvedOptions().timeZone;
  } catch (error) {
    if (error instanceof RangeError) return null;
    throw error;
  }
}
