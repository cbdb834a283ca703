import { Pool } from 'undici';
import { retryAfterMs } from '../../http/retry-after.ts';
import { ProviderError, unanswered, type ProviderAdapter } from './adapter.ts';

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
 * provider-sim's API (POST /v1/<channel>/send, apps/provider-sim/src/app.ts), the default
 * provider of every channel. Our message id is the Idempotency-Key: a call repeated after a
 * crash is recognised by the provider and does not send twice. `connections`: keep-alive
 * sockets at most, one per call in flight.
 */
export function createSimAdapter(baseUrl: string, connections: number): ProviderAdapter {
  const url = new URL(baseUrl);
  const pool = new Pool(url.origin, { connections });
  const basePath = url.pathname.replace(/\/$/, '');

  return {
    name: 'sim',
    async send({ channel, message, validityPeriodSeconds }, signal) {
      const provider = `sim ${channel} provider`;
      let response;
      try {
        response = await pool.request({
          method: 'POST',
          path: `${basePath}/v1/${channel}/send`,
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
        throw unanswered(provider, error, signal);
      }
      const { statusCode } = response;
      if (statusCode >= 200 && statusCode < 300) {
        const body = (await response.body.json()) as { id?: unknown };
        if (typeof body.id !== 'string') throw new ProviderError('UNAVAILABLE', `${provider} answered ${statusCode} without an id`);
        return { providerMessageId: body.id };
      }
      const why = await reason(response.body);
      if (statusCode === 429) {
        const after = retryAfterMs(response.headers['retry-after']);
        throw new ProviderError('RATE_LIMITED', `${provider} rate-limited us: ${why}`, after === undefined ? {} : { retryAfterMs: after });
      }
      if (statusCode === 408 || statusCode >= 500) throw new ProviderError('UNAVAILABLE', `${provider} answered ${statusCode}: ${why}`);
      // Any other 4xx: the provider refuses this message for good (invalid number, content, …).
      throw new ProviderError('REJECTED', `${provider} refused the message (${statusCode}): ${why}`);
    },
    close: () => pool.close(),
  };
}
