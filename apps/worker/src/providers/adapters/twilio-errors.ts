import { retryAfterMs } from '../../http/retry-after.ts';
import { ProviderError } from './adapter.ts';

/** Twilio's error body (https://www.twilio.com/docs/usage/twilios-response): `{code, message, more_info, status}`. */
interface TwilioErrorBody {
  code: number | null;
  message: string;
}

function parseTwilioError(text: string): TwilioErrorBody {
  try {
    const parsed = JSON.parse(text) as { code?: unknown; message?: unknown };
    return {
      code: typeof parsed.code === 'number' ? parsed.code : null,
      message: typeof parsed.message === 'string' ? parsed.message : text.slice(0, 200),
    };
  } catch {
    return { code: null, message: text.slice(0, 200) };
  }
}

/**
 * Errors that say our account or sender settings are wrong, not the message: every message
 * would meet them, so failing them for good would fail the whole traffic until someone
 * notices. They are UNAVAILABLE instead: the breaker opens, a failover list moves on to
 * the next provider, the messages wait for retries and, at worst, reach the dead-letter
 * queue, from which they can be replayed once the setting is fixed. Each names the setting
 * to check (https://www.twilio.com/docs/api/errors/<code>).
 */
const ACCOUNT_PROBLEMS: ReadonlyMap<number, string> = new Map([
  [20003, 'TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN'], // Permission denied: wrong credentials
  [20403, 'the Twilio account (suspended or closed?)'], // 403 Forbidden
  [20404, 'TWILIO_ACCOUNT_SID and TWILIO_BASE_URL'], // the Messages resource of this account does not exist
  [21212, 'TWILIO_FROM / TWILIO_WHATSAPP_FROM'], // invalid From number
  [21601, 'TWILIO_FROM / TWILIO_WHATSAPP_FROM'], // From is not an SMS-capable number of this account
  [21603, 'TWILIO_FROM / TWILIO_WHATSAPP_FROM'], // From is required
  [21606, 'TWILIO_FROM / TWILIO_WHATSAPP_FROM'], // From is not a message-capable Twilio number
  [21659, 'TWILIO_FROM / TWILIO_WHATSAPP_FROM'], // From is not a Twilio number
  [21661, 'TWILIO_FROM / TWILIO_WHATSAPP_FROM'], // From is not SMS-capable
  [63007, 'TWILIO_WHATSAPP_FROM'], // no WhatsApp sender with this From address
]);

/** The same by HTTP status, for answers without a Twilio code (a proxy's, or a wrong TWILIO_BASE_URL's). */
const ACCOUNT_STATUSES: ReadonlyMap<number, string> = new Map([
  [401, ACCOUNT_PROBLEMS.get(20003)!],
  [403, ACCOUNT_PROBLEMS.get(20403)!],
  [404, ACCOUNT_PROBLEMS.get(20404)!],
]);

/** What a Twilio answer other than 2xx means for the message, and the setting to check when the account is at fault. */
export interface TwilioFailure {
  error: ProviderError;
  /** Set when the account or sender settings are at fault: the setting to check. */
  check: string | null;
}

/**
 * Twilio's refusals and failures as the send processor acts on them:
 * - 429 / 20429 (too many concurrent requests, never processed, safe to retry:
 *   https://www.twilio.com/docs/api/errors/20429) → RATE_LIMITED, honouring Retry-After;
 * - the account and sender errors above, 401, 403 and 404 → UNAVAILABLE, with the setting to check;
 * - 408 and 5xx → UNAVAILABLE;
 * - any other 4xx → REJECTED: this message is refused for good (21211 invalid 'To',
 *   21610 the recipient unsubscribed (STOP), 21408 no permission to send to that region,
 *   21614 not a mobile number, 21617 body too long, …).
 */
export function classifyTwilioFailure(statusCode: number, text: string, retryAfter: string | string[] | undefined): TwilioFailure {
  const { code, message } = parseTwilioError(text);
  const said = code === null ? `${statusCode}` : `${statusCode}, ${code}`;
  if (statusCode === 429 || code === 20429) {
    const after = retryAfterMs(retryAfter);
    return {
      error: new ProviderError(
        'RATE_LIMITED',
        `twilio rate-limited us (${said}): ${message}`,
        after === undefined ? {} : { retryAfterMs: after },
      ),
      check: null,
    };
  }
  const check = (code === null ? undefined : ACCOUNT_PROBLEMS.get(code)) ?? ACCOUNT_STATUSES.get(statusCode);
  if (check !== undefined) return { error: new ProviderError('UNAVAILABLE', `twilio refused our account (${said}): ${message}`), check };
  if (statusCode === 408 || statusCode >= 500)
    return { error: new ProviderError('UNAVAILABLE', `twilio answered ${said}: ${message}`), check: null };
  return { error: new ProviderError('REJECTED', `twilio refused the message (${said}): ${message}`), check: null };
}
