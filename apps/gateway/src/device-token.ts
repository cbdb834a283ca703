import { E164_PATTERN } from '@esh3ar/contracts';
import { createVerifier } from 'fast-jwt';

const e164 = new RegExp(E164_PATTERN);

export class DeviceTokenError extends Error {
  override name = 'DeviceTokenError';
}

/**
 * Device tokens: HS256 JWTs whose `sub` is the phone (E.164) and which carry `exp`.
 * fast-jwt checks the signature, the algorithm (only HS256) and expiry.
 */
export function deviceTokenVerifier(secret: string) {
  const verify = createVerifier({ key: secret, algorithms: ['HS256'], requiredClaims: ['sub', 'exp'], cache: 10_000 });
  return function phoneOf(token: string): string {
    let payload: { sub?: unknown };
    try {
      payload = verify(token) as { sub?: unknown };
    } catch (error) {
      throw new DeviceTokenError((error as Error).message);
    }
    if (typeof payload.sub !== 'string' || !e164.test(payload.sub)) throw new DeviceTokenError('the token subject is not an E.164 phone number');
    return payload.sub;
  };
}

export function tokenFromRequest(headers: Record<string, string | string[] | undefined>, query: unknown): string | null {
  const header = headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match?.[1]) return match[1];
  }
  const fromQuery = (query as { access_token?: unknown } | null)?.access_token;
  return typeof fromQuery === 'string' && fromQuery.length > 0 ? fromQuery : null;
}
