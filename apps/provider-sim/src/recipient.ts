import type { Channel } from './faults.ts';

// The same patterns as the public API's (packages/contracts message.ts), so a message
// the api accepted is only refused here through the magic prefix or domain.
const E164 = /^\+[1-9][0-9]{7,14}$/;
const EMAIL = /^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$/;

/**
 * Phone numbers starting with this are always refused as INVALID_RECIPIENT: a
 * permanent failure tests and demos can ask for. +1 999 is not an assigned NANP area code.
 */
const ALWAYS_INVALID_PREFIX = '+1999';

/** Email addresses in this top-level domain are always refused: RFC 2606 reserves it for names that cannot exist. */
const ALWAYS_INVALID_DOMAIN = '.invalid';

/** Why `to` cannot receive on `channel`, or null when it can. */
export function recipientProblem(channel: Channel, to: string): string | null {
  if (channel === 'email') {
    if (!EMAIL.test(to)) return 'to must be an email address for channel email';
    if (to.toLowerCase().endsWith(ALWAYS_INVALID_DOMAIN))
      return `addresses in ${ALWAYS_INVALID_DOMAIN} never exist (RFC 2606; provider-sim's permanent-failure domain)`;
    return null;
  }
  if (!E164.test(to)) return `to must be an E.164 phone number for channel ${channel}`;
  if (to.startsWith(ALWAYS_INVALID_PREFIX))
    return `numbers starting with ${ALWAYS_INVALID_PREFIX} never exist (provider-sim's permanent-failure prefix)`;
  return null;
}
