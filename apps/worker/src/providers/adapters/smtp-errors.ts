import type { NodemailerError } from 'nodemailer';
import { ProviderError } from './adapter.ts';

/** What a failed SMTP send means for the message, and the setting to check when our account is at fault. */
export interface SmtpFailure {
  error: ProviderError;
  /** Set when SMTP_URL's credentials or EMAIL_FROM are refused: the setting to check. */
  check: string | null;
}

const CREDENTIALS = "SMTP_URL's user and password";
const SENDER = 'EMAIL_FROM';

/** The commands after which a permanent reply is about this message: its recipient or its content. */
const MESSAGE_COMMANDS = new Set(['RCPT TO', 'DATA']);

/**
 * nodemailer's failures as the send processor acts on them. Its errors
 * (https://nodemailer.com/errors) carry `code` (ECONNECTION, ETIMEDOUT, EAUTH, EENVELOPE,
 * EMESSAGE, …) and, when the server replied, `responseCode`, `response` (the reply line)
 * and `command` (CONN, AUTH PLAIN, MAIL FROM, RCPT TO, DATA). Reply codes as RFC 5321
 * §4.2 defines them:
 * - EAUTH / ENOAUTH (535: wrong user or password) and 530 (the server wants AUTH and
 *   SMTP_URL has none) → UNAVAILABLE, check SMTP_URL's credentials; a 5xx to MAIL FROM
 *   (550 / 553 sender refused) → UNAVAILABLE, check EMAIL_FROM. Every message would meet
 *   them: failing each for good would fail the whole traffic until someone noticed, so the
 *   breaker opens, failover moves on and the messages wait for retries, as Twilio's
 *   account errors do (twilio-errors.ts).
 * - 421 (any step: "service not available, closing transmission channel", a server going
 *   down, overloaded or refusing more connections) → UNAVAILABLE: the server is unwell,
 *   not our pace.
 * - any other 4xx (450 mailbox busy or greylisted, 451 local error or throttling, 452
 *   insufficient storage or too many recipients) → RATE_LIMITED: the server is up, talked
 *   to us and asks us to come back later for this message, which is what throttling
 *   looks like in SMTP (Gmail's 450 4.2.1 "receiving mail at a rate", Exchange's 451
 *   4.7.500 "server busy"). SMTP has no Retry-After: BullMQ's backoff decides when.
 * - 5xx to RCPT TO or DATA (550 no such user, 551, 552 too large, 553 mailbox name not
 *   allowed, 554 refused) and 552 to MAIL FROM (the declared SIZE is over the limit) →
 *   REJECTED; 503 (bad sequence of commands) is a session fault, not the message's, as
 *   nodemailer's own `err.permanent` has it → UNAVAILABLE.
 * - ETIMEDOUT (nodemailer's own connection, greeting or socket timeout) → TIMEOUT.
 * - EENVELOPE / EMESSAGE without a reply: nodemailer refused the address or the message
 *   before sending it → REJECTED.
 * - anything else (refused, reset, DNS, TLS, a greeting or EHLO refused, a reply that is
 *   not SMTP) → UNAVAILABLE.
 */
export function classifySmtpFailure(failure: unknown): SmtpFailure {
  const error = failure as NodemailerError;
  const reply = error.responseCode;
  const said = error.response ?? error.message;
  const step = error.command === undefined ? '' : `, ${error.command}`;
  const fail = (code: ProviderError['code'], message: string, check: string | null = null): SmtpFailure => ({
    error: new ProviderError(code, message, { cause: failure }),
    check,
  });

  if (error.code === 'EAUTH' || error.code === 'ENOAUTH') {
    // 454 "temporary authentication failure" is the server's trouble, not the credentials'.
    const temporary = reply !== undefined && reply < 500;
    return fail('UNAVAILABLE', `smtp refused our credentials (${error.code}${step}): ${said}`, temporary ? null : CREDENTIALS);
  }
  if (reply !== undefined && reply >= 400 && reply < 500) {
    if (reply === 421) return fail('UNAVAILABLE', `smtp is not available (421${step}): ${said}`);
    return fail('RATE_LIMITED', `smtp deferred the message (${reply}${step}): ${said}`);
  }
  if (reply !== undefined && reply >= 500 && reply < 600) {
    if (reply === 530) return fail('UNAVAILABLE', `smtp requires authentication (530${step}): ${said}`, CREDENTIALS);
    const aboutMessage = MESSAGE_COMMANDS.has(error.command ?? '') || (error.command === 'MAIL FROM' && reply === 552);
    if (aboutMessage && reply !== 503) return fail('REJECTED', `smtp refused the message (${reply}${step}): ${said}`);
    if (error.command === 'MAIL FROM') return fail('UNAVAILABLE', `smtp refused our sender (${reply}${step}): ${said}`, SENDER);
    return fail('UNAVAILABLE', `smtp answered ${reply}${step}: ${said}`);
  }
  if (error.code === 'ETIMEDOUT') return fail('TIMEOUT', `smtp did not answer in time${step}: ${error.message}`);
  if (error.code === 'EENVELOPE' || error.code === 'EMESSAGE') return fail('REJECTED', `smtp cannot send the message: ${error.message}`);
  return fail('UNAVAILABLE', `smtp unreachable (${error.code ?? 'no code'}): ${error.message}`);
}
