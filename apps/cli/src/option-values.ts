import { CLOCK_TIME_PATTERN, CLOCK_TIME_WORDS, isUuid, knownTimeZone, unknownTimeZoneWords } from '@esh3ar/contracts';
import { InvalidArgumentError } from 'commander';

/**
 * Parsers of option values, given to commander: a value they refuse is reported as
 * "option '--limit <n>' argument '0' is invalid. It must be …" with the usage hint, exit 2.
 */

export function integerIn(min: number, max?: number): (text: string) => number {
  return (text) => {
    if (!/^\d+$/.test(text) || Number(text) < min || (max !== undefined && Number(text) > max))
      throw new InvalidArgumentError(
        max === undefined ? `It must be an integer ≥ ${min}.` : `It must be an integer from ${min} to ${max}.`,
      );
    return Number(text);
  };
}

export function uuidOf(what: string): (text: string) => string {
  return (text) => {
    if (!isUuid(text)) throw new InvalidArgumentError(`It must be ${what} (a UUID).`);
    return text;
  };
}

export function isoTime(text: string): string {
  if (Number.isNaN(Date.parse(text))) throw new InvalidArgumentError('It must be an ISO time such as 2025-01-31T12:00:00Z.');
  return text;
}

const CLOCK_TIME = new RegExp(CLOCK_TIME_PATTERN);

/** HH:MM, as the admin API takes quiet hours. */
export function clockTime(text: string): string {
  if (!CLOCK_TIME.test(text)) throw new InvalidArgumentError(`It ${CLOCK_TIME_WORDS}.`);
  return text;
}

/** An IANA time zone, answered by the name Intl gives it (asia/riyadh is Asia/Riyadh). */
export function timeZone(text: string): string {
  const known = knownTimeZone(text);
  if (known === null) throw new InvalidArgumentError(`${unknownTimeZoneWords(text)}.`);
  return known;
}
