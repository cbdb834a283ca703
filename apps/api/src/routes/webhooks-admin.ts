import { isUuid, WEBHOOK_URL_MAX_CHARS, webhookUrlProblem } from '@esh3ar/contracts';
import { getTenantWebhook, removeTenantWebhook, setTenantWebhook } from '@esh3ar/db';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { apiError, unavailable } from '../errors.ts';

export interface WebhookAdminDeps {
  pool: pg.Pool;
  logger: FastifyBaseLogger;
}

const SetWebhook = Type.Object({ url: Type.String({ minLength: 1, maxLength: WEBHOOK_URL_MAX_CHARS }) }, { additionalProperties: false });
const checkSetWebhook = Compile(SetWebhook);

/** The tenant named in the path; a malformed id is as unknown as a missing one. */
function tenantIdOf(request: FastifyRequest): string {
  const { tenantId } = request.params as { tenantId: string };
  if (!isUuid(tenantId)) throw noSuchTenant();
  return tenantId;
}

const noSuchTenant = () => apiError('NOT_FOUND', 'no such tenant');

async function storeCall<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw unavailable('the database', error);
  }
}

/**
 * /v1/admin/tenants/:tenantId/webhook: where a tenant's status changes are POSTed. Registered
 * inside the admin scope, so ADMIN_TOKEN guards it. The secret is generated here and shown
 * on every PUT (each PUT replaces it); GET never shows it.
 */
export function webhookAdminRoutes(app: FastifyInstance, deps: WebhookAdminDeps): void {
  const { pool, logger } = deps;

  app.put('/v1/admin/tenants/:tenantId/webhook', async (request) => {
    const tenantId = tenantIdOf(request);
    if (!checkSetWebhook.Check(request.body)) {
      throw apiError('VALIDATION_FAILED', 'the body must be {"url": "https://…"}', [
        { path: '/url', message: 'required, a string, and the only field' },
      ]);
    }
    const { url } = request.body;
    const problem = webhookUrlProblem(url);
    if (problem !== null) throw apiError('VALIDATION_FAILED', problem, [{ path: '/url', message: problem }]);
    const webhook = await storeCall(() => setTenantWebhook(pool, tenantId, url));
    if (webhook === null) throw noSuchTenant();
    logger.info({ tenantId, endpoint: new URL(url).origin }, 'tenant webhook set');
    return webhook;
  });

  app.get('/v1/admin/tenants/:tenantId/webhook', async (request) => {
    const tenantId = tenantIdOf(request);
    const webhook = await storeCall(() => getTenantWebhook(pool, tenantId));
    if (webhook === null) throw noSuchTenant();
    if (webhook.url === null) throw apiError('NOT_FOUND', 'this tenant has no webhook');
    return { tenantId: webhook.tenantId, url: webhook.url };
  });

  app.delete('/v1/admin/tenants/:tenantId/webhook', async (request, reply) => {
    const tenantId = tenantIdOf(request);
    const result = await storeCall(() => removeTenantWebhook(pool, tenantId));
    if (result === null) throw noSuchTenant();
    if (result.removed) logger.info({ tenantId }, 'tenant webhook removed');
    return reply.code(204).send();
  });
}
