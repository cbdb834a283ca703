import { errorFromFailure, errorFromResponse, unexpectedResponse, type Esh3arError } from './errors.js';
import { retryDelayMs, type RetryPolicy } from './retry-policy.js';

/** What every call of one client shares. */
export interface Transport {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  retry: RetryPolicy;
}

export interface RequestOptions {
  body?: unknown;
  /** The same key on every attempt, so a retry of a request that was in fact stored is answered, not stored again. */
  idempotencyKey?: string;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: Esh3arError };

async function attempt<T>(transport: Transport, method: string, path: string, options: RequestOptions): Promise<Outcome<T>> {
  const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${transport.apiKey}` };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
  try {
    // One timeout per attempt, covering the body too: a retry gets the whole time again.
    const response = await fetch(`${transport.baseUrl}${path}`, {
      method,
      headers,
      body: options.body === undefined ? null : JSON.stringify(options.body),
      signal: AbortSignal.timeout(transport.timeoutMs),
    });
    if (!response.ok) return { ok: false, error: await errorFromResponse(response, Date.now()) };
    const text = await response.text();
    try {
      return { ok: true, value: JSON.parse(text) as T };
    } catch {
      return { ok: false, error: unexpectedResponse(response.status, text) };
    }
  } catch (cause) {
    return { ok: false, error: errorFromFailure(cause, transport.timeoutMs) };
  }
}

/** One call: attempts until an answer, a failure not worth retrying, or the policy's last attempt. */
export async function request<T>(
  transport: Transport,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  options: RequestOptions = {},
): Promise<T> {
  for (let n = 1; ; n++) {
    const outcome = await attempt<T>(transport, method, path, options);
    if (outcome.ok) return outcome.value;
    const delay = retryDelayMs(outcome.error, n, transport.retry);
    if (delay === null) throw outcome.error;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
