import { ProviderError } from './adapter.ts';

/**
 * The Graph API's error body as the WhatsApp Cloud API answers it
 * (https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes):
 * `{"error": {"message": "(#<code>) <title>", "type", "code", "error_data":
 * {"messaging_product": "whatsapp", "details"}, "error_subcode", "fbtrace_id"}}`. Meta asks
 * for decisions on `code` (and `details` for people), not on the HTTP status or the
 * subcode, which v16.0 and later leave out but for Graph-level errors.
 */
interface GraphError {
  code: number | null;
  subcode: number | null;
  /** The message without its "(#code) " prefix, and the details when Meta gives them. */
  reason: string;
}

function parseGraphError(text: string): GraphError {
  try {
    const parsed = (JSON.parse(text) as { error?: Record<string, unknown> }).error ?? {};
    const message = typeof parsed.message === 'string' ? parsed.message.replace(/^\(#\d+\)\s*/, '').replace(/\.$/, '') : '';
    const data = parsed.error_data as { details?: unknown } | undefined;
    const details = typeof data?.details === 'string' && data.details !== message ? data.details : '';
    const reason = [message, details].filter(Boolean).join(': ');
    return {
      code: typeof parsed.code === 'number' ? parsed.code : null,
      subcode: typeof parsed.error_subcode === 'number' ? parsed.error_subcode : null,
      reason: reason || text.slice(0, 200),
    };
  } catch {
    return { code: null, subcode: null, reason: text.slice(0, 200) };
  }
}

/**
 * How long to wait before the next attempt after each rate limit. Meta sends no
 * Retry-After, and BullMQ's own backoff (250 ms doubling, 8 attempts: ~32 s in all by
 * default) fits none of them, so each wait is the limit's own window:
 * - 130429, throughput: 80 messages per second per business number by default
 *   (https://developers.facebook.com/documentation/business-messaging/whatsapp/throughput):
 *   a per-second ceiling, 1 s;
 * - 131056, pair rate: one message every 6 s from the business number to the same user
 *   (the same page and the error-codes page): 6 s;
 * - 4 (app) and 80007 (WhatsApp Business Account) call limits are counted over a rolling
 *   hour (https://developers.facebook.com/docs/graph-api/overview/rate-limiting), and
 *   131048 (spam rate limit) lasts while the number's quality is low: no short wait
 *   helps, so 60 s, which spreads a message's 8 attempts over ~8 min instead of spending
 *   them in 30 s; meanwhile the breaker opens and a failover list moves on.
 */
export const RATE_LIMIT_WAIT_MS: ReadonlyMap<number, number> = new Map([
  [130429, 1000],
  [131056, 6000],
  [4, 60_000],
  [80007, 60_000],
  [131048, 60_000],
]);

/**
 * Errors that say our token, phone number ID or business account is at fault, not the
 * message: every message would meet them, so they are UNAVAILABLE (the breaker opens, a
 * failover list moves on, the messages wait for retries or the dead-letter queue, to be
 * replayed once the setting is fixed), each with the setting to check.
 */
const TOKEN = 'META_WA_TOKEN';
const ACCOUNT_PROBLEMS: ReadonlyMap<number, string> = new Map([
  [0, TOKEN], // AuthException: the token expired, was invalidated or its user revoked access
  [3, `${TOKEN} (its permissions)`], // capability or permissions issue
  [10, `${TOKEN} (its permissions)`], // permission not granted or removed
  [190, TOKEN], // access token expired or invalid
  [33, 'META_WA_PHONE_NUMBER_ID'], // the business phone number has been deleted
  [133010, 'META_WA_PHONE_NUMBER_ID (not registered on the Cloud API)'], // the business number is not registered
  [131031, 'the WhatsApp Business Account (locked)'], // business account locked
  [131042, "the WhatsApp Business Account's payment method"], // business eligibility payment issue
  [368, 'the WhatsApp Business Account (blocked for policy violations)'], // temporarily blocked
]);

/** The same by HTTP status, for answers without a Graph code (a proxy's, or a wrong META_GRAPH_BASE_URL's). */
const ACCOUNT_STATUSES: ReadonlyMap<number, string> = new Map([
  [401, TOKEN],
  [403, `${TOKEN} (its permissions)`],
  [404, 'META_GRAPH_BASE_URL and META_WA_PHONE_NUMBER_ID'],
]);

/** Meta's side is failing: 1 unknown (invalid request or a server error), 2 service, 131000 something went wrong, 131016 service unavailable. */
const META_TROUBLE = new Set([1, 2, 131000, 131016]);

function accountProblem(statusCode: number, { code, subcode }: GraphError): string | undefined {
  if (code !== null && code >= 200 && code <= 299) return `${TOKEN} (its permissions)`; // API permission
  // Code 100 with subcode 33, "Unsupported post request. Object with ID … does not exist": no such phone number ID.
  if (code === 100 && subcode === 33) return 'META_WA_PHONE_NUMBER_ID';
  return (code === null ? undefined : ACCOUNT_PROBLEMS.get(code)) ?? (code === null ? ACCOUNT_STATUSES.get(statusCode) : undefined);
}

/** What a Meta answer other than 2xx means for the message, and the setting to check when the account is at fault. */
export interface MetaFailure {
  error: ProviderError;
  check: string | null;
}

/**
 * Meta's refusals and failures as the send processor acts on them, by `code` first:
 * - the rate limits above → RATE_LIMITED with their wait (and a 429 without a code, with
 *   none: BullMQ's backoff);
 * - the account problems above (and 200–299, and 100 with subcode 33), 401, 403 and 404
 *   without a code, and any 3xx → UNAVAILABLE, with the setting to check;
 * - 1, 2, 131000, 131016, 408 and 5xx → UNAVAILABLE;
 * - 131047: more than 24 h since the user last wrote, when only a template message may be
 *   sent, and this platform sends text → REJECTED, saying so;
 * - any other 4xx → REJECTED: this message is refused for good (131026 undeliverable: not
 *   a WhatsApp user, old client or terms not accepted; 100 invalid parameter; 131051
 *   unsupported message type; 131021 recipient is the sender; 130497 country restricted; …).
 */
export function classifyMetaFailure(statusCode: number, text: string): MetaFailure {
  const graph = parseGraphError(text);
  const { code, reason } = graph;
  const said = code === null ? `${statusCode}` : `${statusCode}, ${code}`;
  const wait = code === null ? undefined : RATE_LIMIT_WAIT_MS.get(code);
  if (wait !== undefined || (code === null && statusCode === 429)) {
    const error = new ProviderError(
      'RATE_LIMITED',
      `meta rate-limited us (${said}): ${reason}`,
      wait === undefined ? {} : { retryAfterMs: wait },
    );
    return { error, check: null };
  }
  const check = statusCode < 400 ? 'META_GRAPH_BASE_URL' : accountProblem(statusCode, graph);
  if (check !== undefined) return { error: new ProviderError('UNAVAILABLE', `meta refused our account (${said}): ${reason}`), check };
  if ((code !== null && META_TROUBLE.has(code)) || statusCode === 408 || statusCode >= 500)
    return { error: new ProviderError('UNAVAILABLE', `meta answered ${said}: ${reason}`), check: null };
  if (code === 131047) {
    const why =
      'more than 24 hours since the recipient last wrote: WhatsApp then takes only template messages, and this platform sends text';
    return { error: new ProviderError('REJECTED', `meta refused the message (${said}): ${why} (${reason})`), check: null };
  }
  return { error: new ProviderError('REJECTED', `meta refused the message (${said}): ${reason}`), check: null };
}
