import type { ProviderChannel, SendJobData } from '@esh3ar/contracts';
import { request } from 'undici';
import { HttpCallError, retryAfterMs } from '../http/retry-after.ts';

/** How a provider call failed; the send processor switches over these exhaustively. */
export type ProviderErrorCode = 'TIMEOUT' | 'UNAVAILABLE' | 'RATE_LIMITED' | 'REJECTED';

export class ProviderError extends HttpCallError<ProviderErrorCode> {
  override name = 'ProviderError';
}

async function reason(body: { text(): Promise<string> }): Promise<string> {
  const text = await body.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
    return [parsed.error?.code, parsed.error?.message].filter(Boolean).join(': ') || text.slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}

/**
 * One call to a provider (provider-sim's API: POST /v1/<channel>/send). Our message id
 * is the Idempotency-Key: a call repeated after a crash is recognised by the provider
 * and does not send twice. `validityPeriodSeconds` is what is left of the message's TTL
 * (null: none): the provider drops the message once it runs out instead of delivering it
 * late (Twilio's ValidityPeriod). Classifies every failure; never retries by itself.
 */
export async function sendToProvider(
  baseUrl: string,
  channel: ProviderChannel,
  message: SendJobData['message'],
  validityPeriodSeconds: number | null,
  signal: AbortSignal,
): Promise<{ providerMessageId: string }> {
  let response;
  try {
    response = await request(`${baseUrl}/v1/${channel}/send`, {
      method: 'POST',
      signal,
      headers: { 'content-type': 'application/json', 'idempotency-key': message.id },
      body: JSON.stringify({
        to: message.recipient,
        text: message.content,
        ...(message.subject === null ? {} : { subject: message.subject }),
        ...(validityPeriodSeconds === null ? {} : { validityPeriodSeconds }),
      }),
    });
  } catch (error) {
    if (signal.aborted) throw new ProviderError('TIMEOUT', `${channel} provider did not answer in time`, { cause: error });
    throw new ProviderError('UNAVAILABLE', `${channel} provider unreachable: ${(error as Error).message}`, { cause: error });
  }
  const { statusCode } = response;
  if (statusCode >= 200 && statusCode < 300) {
    const body = (await response.body.json()) as { id?: unknown };
    if (typeof body.id !== 'string') throw new ProviderError('UNAVAILABLE', `${channel} provider answered ${statusCode} without an id`);
    return { providerMessageId: body.id };
  }
  const why = await reason(response.body);
  if (statusCode === 429) {
    const after = retryAfterMs(response.headers['retry-after']);
    throw new ProviderError(
      'RATE_LIMITED',
      `${channel} provider rate-limited us: ${why}`,
      after === undefined ? {} : { retryAfterMs: after },
    );
  }
  if (statusCode === 408 || statusCode >= 500) throw new ProviderError('UNAVAILABLE', `${channel} provider answered ${statusCode}: ${why}`);
  // Any other 4xx: the provider refuses this message for good (invalid number, content, …).
  throw new ProviderError('REJECTED', `${channel} provider refused the message (${statusCode}): ${why}`);
}
