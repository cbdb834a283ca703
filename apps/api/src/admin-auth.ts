import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken } from './auth.ts';
import { apiError } from './errors.ts';

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * Bearer ADMIN_TOKEN on /v1/admin/*, and nothing else: a tenant's API key is never
 * looked up here. Both sides are hashed first, so timingSafeEqual compares equal
 * lengths and the time taken says nothing about the token, its length included.
 */
/** HTTP Basic credentials' password: how a browser presents the token to the queue board. */
function basicPassword(request: FastifyRequest): string | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(request.headers.authorization ?? '');
  if (!match?.[1]) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? null : decoded.slice(colon + 1);
}

export function authenticateAdmin(adminToken: string) {
  const expected = digest(adminToken);
  return async function onRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    // The queue board is a web page: there a browser may present the token as Basic
    // credentials, and is asked to. Every other admin route takes the bearer token only.
    const board = request.url.startsWith('/v1/admin/queues');
    const presented = bearerToken(request) ?? (board ? basicPassword(request) : null);
    if (presented === null && board) reply.header('www-authenticate', 'Basic realm="esh3ar admin"');
    if (presented === null) throw apiError('UNAUTHENTICATED', 'missing admin token: send Authorization: Bearer <ADMIN_TOKEN>');
    if (!timingSafeEqual(digest(presented), expected)) throw apiError('UNAUTHENTICATED', 'invalid admin token');
  };
}
