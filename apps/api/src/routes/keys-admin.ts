import { isUuid } from '@esh3ar/contracts';
import { createApiKey, listApiKeys, revokeApiKey } from '@esh3ar/db';
import { publishKeyEvent } from '@esh3ar/queue';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { apiError } from '../errors.ts';
import { adminErrorResponses, ANSWERED_AS_BUILT, json } from '../route-docs.ts';
import { EXAMPLE_API_KEY, storeCall, TENANTS, tenantIdOf, type TenantAdminDeps } from './tenants-admin.ts';

// Serialized through these schemas, so an item can never carry more than they name: no
// key, no hash, whatever the query returns.
const KeyItem = Type.Object({
  keyId: Type.String(),
  createdAt: Type.String(),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
});
const KeyList = Type.Object({ items: Type.Array(KeyItem) });
const NewKey = Type.Object({ keyId: Type.String(), apiKey: Type.String() });
const EXAMPLE_KEY_ID = '5f0c2b1e-8d3a-4c6f-9b7e-2a1d0c9e8f7a';

/**
 * /v1/admin/tenants/:tenantId/keys: a tenant holds any number of keys; each is shown once
 * when created, listed without its secret, and revoked on its own. A revoked key is
 * refused by every api process within 2 s (KeyRevocationListener). Registered inside the
 * admin scope, so ADMIN_TOKEN guards it.
 */
export function keyAdminRoutes(app: FastifyInstance, deps: TenantAdminDeps): void {
  const { pool, logger } = deps;

  app.post(
    '/v1/admin/tenants/:tenantId/keys',
    {
      schema: {
        ...TENANTS,
        operationId: 'createApiKey',
        summary: 'Create another API key for a tenant',
        description: 'Shown here once; only its hash is stored. The tenant’s other keys keep working.',
        response: {
          201: json('Created', NewKey, { created: { keyId: EXAMPLE_KEY_ID, apiKey: EXAMPLE_API_KEY } }),
          ...adminErrorResponses(['NOT_FOUND'], { NOT_FOUND: 'no such tenant' }),
        },
      },
    },
    async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const key = await storeCall(() => createApiKey(pool, tenantId));
      if (key === null) throw apiError('NOT_FOUND', 'no such tenant');
      logger.info({ tenantId, keyId: key.keyId }, 'API key created');
      return reply.code(201).send(key);
    },
  );

  app.get(
    '/v1/admin/tenants/:tenantId/keys',
    {
      schema: {
        ...TENANTS,
        operationId: 'listApiKeys',
        summary: 'A tenant’s keys, without their secrets',
        response: {
          200: json('The tenant’s keys that are not revoked', KeyList, {
            keys: { items: [{ keyId: EXAMPLE_KEY_ID, createdAt: '2025-01-31T09:30:00.000Z', lastUsedAt: '2025-02-01T08:00:00.000Z' }] },
          }),
          ...adminErrorResponses(['NOT_FOUND'], { NOT_FOUND: 'no such tenant' }),
        },
      },
    },
    async (request) => {
      const tenantId = tenantIdOf(request);
      const keys = await storeCall(() => listApiKeys(pool, tenantId));
      if (keys === null) throw apiError('NOT_FOUND', 'no such tenant');
      return {
        items: keys.map((k) => ({ keyId: k.keyId, createdAt: k.createdAt.toISOString(), lastUsedAt: k.lastUsedAt?.toISOString() ?? null })),
      };
    },
  );

  app.delete(
    '/v1/admin/tenants/:tenantId/keys/:keyId',
    {
      ...ANSWERED_AS_BUILT,
      schema: {
        ...TENANTS,
        operationId: 'revokeApiKey',
        summary: 'Revoke an API key',
        description: 'Every api process refuses it within 2 s.',
        response: {
          204: Type.Null({ description: 'Revoked' }),
          ...adminErrorResponses(['NOT_FOUND'], { NOT_FOUND: 'no such API key for this tenant' }),
        },
      },
    },
    async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const { keyId } = request.params as { keyId: string };
      // Unknown, another tenant's and already revoked keys are all "no such key of this tenant".
      if (!isUuid(keyId)) throw apiError('NOT_FOUND', 'no such API key for this tenant');
      const event = await storeCall(() => revokeApiKey(pool, tenantId, keyId));
      if (event === null) throw apiError('NOT_FOUND', 'no such API key for this tenant');
      logger.info({ tenantId, keyId }, 'API key revoked');
      if (!(await publishKeyEvent(deps.redis, deps.prefix, event))) {
        logger.warn(
          { tenantId, keyId },
          'revocation not announced on Redis; api processes apply it when they next read PostgreSQL (≤ 1 s)',
        );
      }
      return reply.code(204).send();
    },
  );
}
