import type { BufferedMessage } from '@esh3ar/contracts';
import type { Hold, QuietHours } from '@esh3ar/db';
import { DateTime, type Zone } from 'luxon';
import { zoneOf } from './local-zone.ts';

/** A tenant's quiet hours as holds need them: 'HH:MM' local times and the fallback zone. */
export type QuietWindow = Pick<QuietHours, 'starts' | 'ends' | 'defaultTimeZone'>;

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
const minuteOfDay = (t: DateTime) => t.hour * 60 + t.minute;

/** Whether a local minute of the day falls in [starts, ends), a window that may run past midnight. */
function inside(minute: number, starts: number, ends: number): boolean {
  return starts < ends ? minute >= starts && minute < ends : minute >= starts || minute < ends;
}

/**
 * The first instant in (from, to] at which the zone's UTC offset is no longer what it was at
 * `from`, to the millisecond (the offset at `to` must differ): bisection, 27 readings for a day.
 */
function offsetChange(zone: Zone, from: number, to: number): number {
  const offset = DateTime.fromMillis(from, { zone }).offset;
  while (to - from > 1) {
    const mid = Math.floor((from + to) / 2);
    if (DateTime.fromMillis(mid, { zone }).offset === offset) from = mid;
    else to = mid;
  }
  return to;
}

/**
 * The first instant after `local` at which its zone's clock reads `ends` on the day the
 * window closes. On the night a clock goes back, that time of day comes twice: the first
 * after `local` is meant, whichever offset it has. On the night a clock jumps past it (a DST
 * gap, 02:30 when 02:00 becomes 03:00), the window closes as the clock jumps. Local times are
 * turned into instants here, with the offsets the zone has around them, rather than by
 * luxon's fromObject: it starts from today's offset and got a day of Apia's 2011 wrong.
 */
function windowEndAfter(local: DateTime, starts: number, ends: number): DateTime {
  const zone = local.zone;
  const nextDay = starts > ends && minuteOfDay(local) >= starts ? 1 : 0;
  const date = new Date(Date.UTC(local.year, local.month - 1, local.day + nextDay));
  const wall = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), Math.floor(ends / 60), ends % 60);
  const offsets = [...new Set([0, 12, 24, 36, 48].map((h) => DateTime.fromMillis(local.toMillis() + h * HOUR_MS, { zone }).offset))];
  const reads = (t: DateTime) => t.day === date.getUTCDate() && t.month === date.getUTCMonth() + 1 && minuteOfDay(t) === ends;
  const candidates = offsets
    .map((offset) => DateTime.fromMillis(wall - offset * MINUTE_MS, { zone }))
    .filter((t) => reads(t) && t > local)
    .sort((a, b) => a.toMillis() - b.toMillis());
  if (candidates[0] !== undefined) return candidates[0];
  // No instant reads it (a gap): read with the largest offset it is still before the jump,
  // with the smallest already after; the jump lies between.
  const earliest = wall - Math.max(...offsets) * MINUTE_MS;
  const latest = wall - Math.min(...offsets) * MINUTE_MS;
  return DateTime.fromMillis(offsetChange(zone, earliest, latest), { zone });
}

/**
 * `end`, or the instant the clock goes back between `local` and `end` if that takes it out
 * of the window (01:59 EDT becomes 01:00 EST, outside 01:10–00:00).
 */
function exitBefore(local: DateTime, end: DateTime, starts: number, ends: number): DateTime {
  if (local.offset === end.offset) return end;
  const changed = DateTime.fromMillis(offsetChange(local.zone, local.toMillis(), end.toMillis()), { zone: local.zone });
  return changed < end && !inside(minuteOfDay(changed), starts, ends) ? changed : end;
}

/**
 * When quiet hours holding the instant `at` (ms) in `zone` end: null when `at` is outside
 * them, else the first instant after `at` outside them, which is the window's end (`ends`,
 * local time) within a day, or the clock going back out of it. DST-safe: local times are read in the zone as it is at each
 * instant. Where a DST gap swallows the hours outside the window (03:00–02:30 on the night
 * 02:00 becomes 03:00) the next day's end is meant.
 */
export function windowEnd(quiet: Pick<QuietWindow, 'starts' | 'ends'>, zone: string, at: number): Date | null {
  const starts = minutesOf(quiet.starts);
  const ends = minutesOf(quiet.ends);
  let local: DateTime = DateTime.fromMillis(at, { zone });
  // A zone luxon cannot read holds nothing: the admin API refuses names Intl does not know.
  if (!local.isValid || !inside(minuteOfDay(local), starts, ends)) return null;
  for (let day = 0; day < 2 && inside(minuteOfDay(local), starts, ends); day++)
    local = exitBefore(local, windowEndAfter(local, starts, ends), starts, ends);
  return local.toJSDate();
}

/** windowEnd in the recipient's zone (local-zone.ts). */
export function holdUntil(quiet: QuietWindow, recipient: string, channel: BufferedMessage['channel'], at: number): Date | null {
  return windowEnd(quiet, zoneOf(recipient, channel, quiet.defaultTimeZone), at);
}

/**
 * Whether a message that would go out at `at` waits for its tenant's quiet hours, and until
 * when: never a critical one, nor one of a tenant without quiet hours.
 */
export function quietHold(
  quiet: QuietWindow | undefined,
  message: Pick<BufferedMessage, 'recipient' | 'channel' | 'priority'>,
  at: number,
): Hold | null {
  if (quiet === undefined || message.priority === 'critical') return null;
  const zone = zoneOf(message.recipient, message.channel, quiet.defaultTimeZone);
  const until = windowEnd(quiet, zone, at);
  if (until === null) return null;
  return { until, reason: `quiet hours ${quiet.starts}–${quiet.ends} in ${zone}: held until ${until.toISOString()}` };
}
