// eslint-disable-next-line no-control-regex -- control characters are what it removes
const CONTROL = /[\u0000-\u001f\u007f]+/g;
// eslint-disable-next-line no-control-regex -- control characters are what it refuses
const HAS_CONTROL = /[\u0000-\u001f\u007f]/;

/** A provider's message id: Twilio's are 34 characters (SM/MM + 32 hex), Meta's wamid.… about 60. */
export const PROVIDER_ID_MAX_CHARS = 256;

/**
 * Whether a receipt's message id (of 1 to PROVIDER_ID_MAX_CHARS characters: each parser
 * refuses others) can be one of ours: no control character. Providers' ids never hold one,
 * and PostgreSQL refuses NUL: one in a receipt would fail the whole request, and the
 * provider would retry it for days.
 */
export const couldBeOurs = (id: string): boolean => !HAS_CONTROL.test(id);

/**
 * A provider's words (an error title, a code) made fit for an event detail: control
 * characters (PostgreSQL text refuses NUL) become spaces, and at most 200 characters are
 * kept, which holds Meta's longest error titles (about 80) and Twilio's five-digit codes.
 */
export function providerText(value: string, maxChars = 200): string {
  return value.replace(CONTROL, ' ').trim().slice(0, maxChars);
}

/** E.164 as messages.recipient holds it, from Twilio's `To` ("+9665…", "whatsapp:+9665…") or Meta's `recipient_id` ("9665…"); null otherwise. */
export function e164(value: string | undefined): string | null {
  if (value === undefined) return null;
  const digits = /^(?:whatsapp:)?\+?([1-9][0-9]{6,14})$/.exec(value.trim())?.[1];
  return digits === undefined ? null : `+${digits}`;
}
