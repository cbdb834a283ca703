// eslint-disable-next-line no-control-regex -- control characters are what it removes
const CONTROL = /[\u0000-\u001f\u007f]+/g;

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
