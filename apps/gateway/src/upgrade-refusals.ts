import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorBody } from '@esh3ar/contracts';
import type { GatewayMetrics } from '@esh3ar/observability';
import { DeviceTokenError, tokenFromRequest, type DeviceIdentity } from './device-token.ts';

// Why an upgrade gets no socket: its answer (an HTTP response written on the raw
// socket, since no Fastify reply exists there) and its count.

/**
 * A full gateway's Retry-After: behind a load balancer the retry most likely lands on
 * another replica. The same for an issuer's keys that could not be fetched: jose gives
 * up on a fetch after 5 s (device-token.ts).
 */
export const UNAVAILABLE_RETRY_AFTER_S = 5;

export type RefusalReason = 'token' | 'token_keys' | 'phone_connections' | 'gateway_connections';

export interface Refusal {
  status: 401 | 404 | 429 | 503;
  /** JSON, as every error of the api: {"error": {"code", "message", "details"}}. */
  body: string;
  retryAfterSeconds?: number;
}

/** Whom a request's device token speaks for, or why it speaks for nobody. */
export async function authenticate(
  identify: (token: string) => Promise<DeviceIdentity>,
  headers: IncomingMessage['headers'],
  query: unknown,
): Promise<{ identity: DeviceIdentity } | { refused: Refusal; reason: RefusalReason }> {
  const token = tokenFromRequest(headers, query);
  if (token === null) return tokenRefused(new DeviceTokenError('missing device token: Authorization: Bearer <token> or ?access_token='));
  try {
    return { identity: await identify(token) };
  } catch (error) {
    return tokenRefused(error instanceof DeviceTokenError ? error : new DeviceTokenError((error as Error).message));
  }
}

function tokenRefused(error: DeviceTokenError): { refused: Refusal; reason: RefusalReason } {
  return error.status === 503
    ? {
        refused: {
          status: 503,
          body: JSON.stringify(errorBody('UNAVAILABLE', error.message)),
          retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_S,
        },
        reason: 'token_keys',
      }
    : { refused: { status: 401, body: JSON.stringify(errorBody('UNAUTHENTICATED', error.message)) }, reason: 'token' };
}

export function countRefused(metrics: GatewayMetrics, reason: RefusalReason): void {
  metrics.upgradesRefused.inc({ reason });
  // The dashboards' refused-upgrades panel counts refused tokens.
  if (reason === 'token') metrics.rejectedUpgrades.inc();
}

export function destroySocket(this: Duplex): void {
  this.destroy();
}

export function refuse(socket: Duplex, { status, body, retryAfterSeconds }: Refusal): void {
  socket.once('finish', destroySocket);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
      (retryAfterSeconds === undefined ? '' : `Retry-After: ${retryAfterSeconds}\r\n`) +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
