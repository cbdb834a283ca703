import type { Channel } from '@esh3ar/contracts';
import { getCountry } from 'countries-and-timezones';
import { parsePhoneNumberFromString } from 'libphonenumber-js';

/**
 * A country's time zone when it has exactly one, by ISO 3166 code; null when it has several
 * (or the table does not know the country). countries-and-timezones is kept in step with the
 * IANA database; its lists leave out deprecated names, but keep a zone a country shares by
 * link (Germany lists Europe/Berlin and, for Büsingen, Europe/Zurich: several).
 */
const soleZones = new Map<string, string | null>();

function soleZone(country: string): string | null {
  let zone = soleZones.get(country);
  if (zone === undefined) {
    const zones = getCountry(country)?.timezones ?? [];
    zone = zones.length === 1 ? zones[0]! : null;
    soleZones.set(country, zone);
  }
  return zone;
}

/**
 * The time zone a recipient's local time is read in: a phone number's country's, when the
 * country has one zone (libphonenumber-js finds the country, +1 and +7 included, from the
 * number's leading digits); the tenant's `defaultTimeZone` for a country with several zones,
 * a number no country claims, and email addresses.
 */
export function zoneOf(recipient: string, channel: Channel, defaultTimeZone: string): string {
  if (channel === 'email') return defaultTimeZone;
  const country = parsePhoneNumberFromString(recipient)?.country;
  return (country === undefined ? null : soleZone(country)) ?? defaultTimeZone;
}
