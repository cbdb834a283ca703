import type { FaultStatus } from '../faults.ts';

/** An error smtp-server answers with this reply code (`err.responseCode`, https://nodemailer.com/extras/smtp-server). */
export function smtpReply(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

/** What a channel that is down answers, at the greeting and to MAIL FROM; smtp-server closes the connection after a 421. */
export const DOWN_REPLY = { code: 421, message: 'Service not available, closing transmission channel' } as const;

/**
 * The reply to DATA standing in for each injected fault (PUT /control's errorStatus, an
 * HTTP status), with RFC 5321 §4.2.3's wording: 429 is how throttling reads in SMTP, a 4xx
 * that defers the message; the 5xx become the transient replies of a relay in trouble;
 * 503 is the server going away. smtp-server prefixes the enhanced status code (RFC 3463).
 */
export const FAULT_REPLIES: Record<FaultStatus, { code: number; message: string }> = {
  429: { code: 451, message: 'Too many messages, slow down and try again later' },
  500: { code: 451, message: 'Requested action aborted: local error in processing' },
  502: { code: 452, message: 'Requested action not taken: insufficient system storage' },
  503: DOWN_REPLY,
  504: { code: 451, message: 'Requested action aborted: no answer from the next hop' },
};
