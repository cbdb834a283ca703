import { E164_PATTERN } from '@esh3ar/contracts';
import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { GatewayConfig } from './config.ts';

const e164 = new RegExp(E164_PATTERN);

/** Whom a device connection speaks for. */
export interface DeviceIdentity {
  phone: string;
  /** The one tenant whose messages it receives; null: every tenant's (the platform-wide HS256 secret). */
  tenant: string | null;
}

export class DeviceTokenError extends Error {
  override name = 'DeviceTokenError';
  /** 401: the token is refused. 503: its issuer's keys could not be fetched; the same token may pass later. */
  readonly status: 401 | 503;

  constructor(message: string, status: 401 | 503 = 401) {
    super(message);
    this.status = status;
  }
}

/**
 * What identity providers sign with (Ed25519 is EdDSA's name since RFC 9864). Asymmetric
 * only: with HS256 allowed, a token carrying a provider's `iss` could be an HMAC made
 * with the provider's public key (algorithm confusion), and a public key is public.
 */
const PROVIDER_ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'Ed25519'];

/** A key set that could not be read (fetch failed, timed out, not a key set), as opposed to one without the token's key. */
function unavailableKeys(getKey: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await getKey(header, token);
    } catch (error) {
      if (
        error instanceof errors.JWKSNoMatchingKey ||
        error instanceof errors.JWKSMultipleMatchingKeys ||
        error instanceof errors.JOSENotSupported
      )
        throw error;
      throw new DeviceTokenError(`the token issuer's keys could not be fetched: ${(error as Error).message}`, 503);
    }
  };
}

function phoneOf(payload: JWTPayload): string {
  if (typeof payload.sub !== 'string' || !e164.test(payload.sub))
    throw new DeviceTokenError('the token subject is not an E.164 phone number');
  return payload.sub;
}

/**
 * Device tokens, two kinds, told apart by the unverified `iss` (which only picks the
 * keys to verify with; the signature and every claim are then checked):
 *
 * - `iss` names one of `issuers` (GATEWAY_TOKEN_ISSUERS): RS256, ES256 or EdDSA, verified
 *   against that issuer's JWKS (fetched and cached by jose; an unknown `kid` fetches it
 *   again, at most once per `jwksCooldownMs`), with its `aud`, `sub`, `exp` and `iat`
 *   required, at most `maxAgeSeconds` old and `clockToleranceSeconds` of skew allowed.
 *   The connection receives that issuer's tenant's messages only: the issuer, not a claim
 *   the token carries, names the tenant, so one tenant's provider cannot speak for another.
 * - anything else: HS256 with the platform-wide DEVICE_TOKEN_SECRET (development, tests,
 *   `pnpm esh3ar token mint`), `sub` and `exp` required, no skew; every tenant's messages.
 *
 * Either way `sub` is the phone in E.164.
 */
export function deviceTokenVerifier(options: GatewayConfig['deviceTokens']): (token: string) => Promise<DeviceIdentity> {
  // Imported once: given the raw secret, jose imports it at every verification (10,000
  // tokens: 0.56-0.62 s, against 0.39 s with the key imported once).
  const secret =
    options.secret === null
      ? null
      : crypto.subtle.importKey('raw', new TextEncoder().encode(options.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const issuers = new Map(
    options.issuers.map((i) => [
      i.issuer,
      {
        ...i,
        keys: unavailableKeys(createRemoteJWKSet(new URL(i.jwksUrl), { cooldownDuration: options.jwksCooldownMs, timeoutDuration: 5000 })),
      },
    ]),
  );

  return async function identify(token: string): Promise<DeviceIdentity> {
    let claims: JWTPayload;
    try {
      claims = decodeJwt(token);
    } catch (error) {
      throw new DeviceTokenError((error as Error).message);
    }
    const issuer = typeof claims.iss === 'string' ? issuers.get(claims.iss) : undefined;
    try {
      if (issuer !== undefined) {
        const { payload } = await jwtVerify(token, issuer.keys, {
          algorithms: PROVIDER_ALGORITHMS,
          issuer: issuer.issuer,
          audience: issuer.audience,
          maxTokenAge: options.maxAgeSeconds,
          clockTolerance: options.clockToleranceSeconds,
          requiredClaims: ['sub', 'exp', 'iat'],
        });
        return { phone: phoneOf(payload), tenant: issuer.tenant };
      }
      if (secret === null) throw new DeviceTokenError(`unknown token issuer ${JSON.stringify(claims.iss ?? null).slice(0, 200)}`);
      const { payload } = await jwtVerify(token, await secret, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] });
      return { phone: phoneOf(payload), tenant: null };
    } catch (error) {
      if (error instanceof DeviceTokenError) throw error;
      throw new DeviceTokenError((error as Error).message);
    }
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
