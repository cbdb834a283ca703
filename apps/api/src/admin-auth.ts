import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { bearerToken } from './auth.ts';
import { apiError } from './errors.ts';

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * Bearer ADMIN_TOKEN on /v1/admin/*, and nothing else: a tenant's API key is never
 * looked up here. Both sides are hashed first, so timingSafeEqual compares equal
 * lengths and the time taken says nothing about the token, its length included.
 */
export function authenticateAdmin(adminToken: string) {
  const expected = digest(adminToken);
  return async function onRequest(request: FastifyRequest): Promise<void> {
    const presented = bearerToken(request);
    if (presented === null) throw apiError('UNAUTHENTICATED', 'missing admin token: send Authorization: Bearer <ADMIN_TOKEN>');
    if (!timingSafeEqual(digest(presented), expected)) throw apiError('UNAUTHENTICATED', 'invalid admin token');
  };
}
