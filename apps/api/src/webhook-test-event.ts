import { webhookHeaders, webhookRequest, webhookTestEvent } from '@esh3ar/contracts';
import { Type, type Static } from 'typebox';
import { request } from 'undici';

// What the worker gives an endpoint by default (WEBHOOK_TIMEOUT_MS): an endpoint that
// answers this test in time is not one the worker's POSTs time out on.
export const TEST_WEBHOOK_TIMEOUT_MS = 5000;

/** How a test POST failed; `url`: the stored URL breaks today's rules and nothing was sent. */
const Failure = Type.Union([
  Type.Literal('status'),
  Type.Literal('timeout'),
  Type.Literal('refused'),
  Type.Literal('dns'),
  Type.Literal('tls'),
  Type.Literal('unreachable'),
  Type.Literal('url'),
]);

/** The answer of POST /v1/admin/tenants/{id}/webhook/test. */
export const TestOutcome = Type.Object({
  delivered: Type.Boolean(),
  /** The endpoint's HTTP status; null when it gave none. */
  status: Type.Union([Type.Integer(), Type.Null()]),
  /** From sending the request to the answer's status line (or the failure). */
  ms: Type.Integer(),
  /** The request's webhook-id header and its event's id (absent: nothing was sent). */
  webhookId: Type.Optional(Type.String()),
  eventId: Type.Optional(Type.String()),
  failure: Type.Optional(Failure),
  /** The failure in words. */
  error: Type.Optional(Type.String()),
});
export type TestOutcome = Static<typeof TestOutcome>;
type FailureCode = NonNullable<TestOutcome['failure']>;

/**
 * POSTs one signed test event to `url` now, the way the worker POSTs status events (same
 * headers and signature, redirects not followed, only a 2xx counts), and says how it went.
 */
export async function sendTestWebhook(
  tenantId: string,
  url: string,
  secret: string,
  timeoutMs: number = TEST_WEBHOOK_TIMEOUT_MS,
): Promise<TestOutcome> {
  const event = webhookTestEvent(tenantId);
  const { id, body } = webhookRequest({ events: [event] });
  const sent = { webhookId: id, eventId: event.id };
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  try {
    const response = await request(url, {
      method: 'POST',
      headers: webhookHeaders(secret, id, body),
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const took = ms();
    // The answer's body is not used; reading it to the end frees the connection.
    await response.body.dump();
    const status = response.statusCode;
    if (status >= 200 && status < 300) return { delivered: true, status, ms: took, ...sent };
    const redirect = status >= 300 && status < 400 ? ' (a redirect: not followed; register the URL it points to)' : '';
    return { delivered: false, status, ms: took, ...sent, failure: 'status', error: `the endpoint answered ${status}${redirect}` };
  } catch (error) {
    return { delivered: false, status: null, ms: ms(), ...sent, ...describeFailure(error, timeoutMs) };
  }
}

/** A failed connection or request in words, by its Node error code. */
function describeFailure(error: unknown, timeoutMs: number): { failure: FailureCode; error: string } {
  const { name, code, message } = error as { name?: string; code?: string; message?: string };
  if (name === 'TimeoutError') return { failure: 'timeout', error: `no answer within ${timeoutMs} ms` };
  // Node's own words up to the first clause: undici appends advice about --use-system-ca.
  const said = `${(message ?? String(error)).split(/[;\n]/)[0]}${code === undefined ? '' : ` (${code})`}`;
  if (code === 'ECONNREFUSED') return { failure: 'refused', error: `the connection was refused: ${said}` };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { failure: 'dns', error: `the host name does not resolve: ${said}` };
  if (code?.startsWith('ERR_SSL_')) return { failure: 'tls', error: `the TLS handshake failed (${code}): is the endpoint https?` };
  if (code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS_/.test(code)) {
    return { failure: 'tls', error: `the endpoint's TLS certificate is not valid: ${said}` };
  }
  return { failure: 'unreachable', error: `the endpoint is unreachable: ${said}` };
}
