import type { ApiErrorCode, ErrorDetail } from './types.js';
import { parseRetryAfter } from './retry-after.js';

/**
 * What the client says when no Esh3ar answer explains the failure: the connection failed,
 * an attempt ran out of time, or the answer was not the api's JSON (a proxy's HTML page).
 */
export type ClientErrorCode = 'NETWORK_ERROR' | 'TIMEOUT' | 'UNEXPECTED_RESPONSE';

interface Esh3arErrorInit {
  /** The HTTP status, or 0 when no answer arrived. */
  status: number;
  code: string;
  message: string;
  details?: ErrorDetail[];
  retryAfter?: number | undefined;
  requestId?: string | undefined;
  cause?: unknown;
}

/** Every failure of an Esh3arClient call: the api's error body, or the client's own code. */
export class Esh3arError extends Error {
  override readonly name = 'Esh3arError';
  /** The HTTP status, or 0 when no answer arrived (NETWORK_ERROR, TIMEOUT). */
  readonly status: number;
  /** The api's code, or the client's; a newer api may send codes this version does not name. */
  readonly code: ApiErrorCode | ClientErrorCode | (string & Record<never, never>);
  /** The fields the api refused, each by its JSON pointer (VALIDATION_FAILED). */
  readonly details: ErrorDetail[];
  /** Seconds the api asked to wait before trying again (429 and 503). */
  readonly retryAfter: number | undefined;
  /** The api's `x-request-id`: what its operators find the request's log lines by. */
  readonly requestId: string | undefined;

  constructor(init: Esh3arErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.details = init.details ?? [];
    this.retryAfter = init.retryAfter;
    this.requestId = init.requestId;
  }
}

interface ErrorBodyShape {
  code: string;
  message: string;
  details: ErrorDetail[];
  requestId?: string | undefined;
}

function errorBodyOf(text: string): ErrorBodyShape | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const error = (parsed as { error?: Partial<ErrorBodyShape> } | null)?.error;
  if (typeof error?.code !== 'string' || typeof error.message !== 'string') return undefined;
  return {
    code: error.code,
    message: error.message,
    details: Array.isArray(error.details) ? error.details : [],
    requestId: error.requestId,
  };
}

/** The Esh3arError for an answer that is not a success; reads the body. */
export async function errorFromResponse(response: Response, now: number): Promise<Esh3arError> {
  const text = await response.text();
  const body = errorBodyOf(text);
  const common = {
    status: response.status,
    retryAfter: parseRetryAfter(response.headers.get('retry-after'), now),
    requestId: response.headers.get('x-request-id') ?? body?.requestId,
  };
  if (body) return new Esh3arError({ ...common, code: body.code, message: body.message, details: body.details });
  return unexpectedResponse(response.status, text, common);
}

/** A body that is not the api's JSON: its first 200 characters are enough to recognise a proxy's page. */
export function unexpectedResponse(status: number, text: string, extra: Partial<Esh3arErrorInit> = {}): Esh3arError {
  return new Esh3arError({
    ...extra,
    status,
    code: 'UNEXPECTED_RESPONSE',
    message: `HTTP ${status} without an Esh3ar JSON body: ${JSON.stringify(text.slice(0, 200))}`,
  });
}

/** A request that got no answer: `fetch` rejected, or the attempt's AbortSignal.timeout fired. */
export function errorFromFailure(cause: unknown, timeoutMs: number): Esh3arError {
  const failure = cause as { name?: string; message?: string; cause?: { code?: string; message?: string } } | null;
  if (failure?.name === 'TimeoutError')
    return new Esh3arError({ status: 0, code: 'TIMEOUT', message: `no answer within ${timeoutMs} ms`, cause });
  // Node's fetch says only "fetch failed"; the reason (ECONNREFUSED, UND_ERR_SOCKET, "bad port") is its cause's.
  const reason = failure?.cause?.code ?? failure?.cause?.message;
  const message = `request failed: ${failure?.message ?? String(cause)}${reason === undefined ? '' : ` (${reason})`}`;
  return new Esh3arError({ status: 0, code: 'NETWORK_ERROR', message, cause });
}
