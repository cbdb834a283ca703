import { isUuid, WEBHOOK_URL_MAX_CHARS, webhookUrlProblem } from '@esh3ar/contracts';
import { getTenantWebhook, removeTenantWebhook, setTenantWebhook } from '@esh3ar/db';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { apiError, unavailable } from '../errors.ts';
import { sendTestWebhook, type TestOutcome } from '../webhook-test-event.ts';
import { WEBHOOK_DOCS } from './webhook-docs.ts';

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

/** The tenant's endpoint and secret; 404 for an unknown tenant and for one without a webhook. */
async function registeredWebhook(pool: pg.Pool, tenantId: string): Promise<{ tenantId: string; url: string; secret: string }> {
  const found = await storeCall(() => getTenantWebhook(pool, tenantId));
  if (found === null) throw noSuchTenant();
  if (found.webhook === null) throw apiError('NOT_FOUND', 'this tenant has no webhook');
  return { tenantId: found.tenantId, ...found.webhook };
}

/**
 * /v1/admin/tenants/:tenantId/webhook: where a tenant's status changes are POSTed. Registered
 * inside the admin scope, so ADMIN_TOKEN guards it. The secret is generated here and shown
 * on every PUT (each PUT replaces it); GET never shows it. POST …/webhook/test sends one
 * signed test event to the endpoint at once and answers how it went.
 */
export function webhookAdminRoutes(app: FastifyInstance, deps: WebhookAdminDeps): void {
  const { pool, logger } = deps;

  app.put('/v1/admin/tenants/:tenantId/webhook', WEBHOOK_DOCS.set(SetWebhook), async (request) => {
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

  app.get('/v1/admin/tenants/:tenantId/webhook', WEBHOOK_DOCS.get, async (request) => {
    const { tenantId, url } = await registeredWebhook(pool, tenantIdOf(request));
    return { tenantId, url };
  });

  app.post('/v1/admin/tenants/:tenantId/webhook/test', WEBHOOK_DOCS.test, async (request) => {
    const { tenantId, url, secret } = await registeredWebhook(pool, tenantIdOf(request));
    // Registration checked the URL; one stored before today's rules is not sent to.
    const problem = webhookUrlProblem(url);
    const outcome: TestOutcome =
      problem === null
        ? await sendTestWebhook(tenantId, url, secret)
        : {
            delivered: false,
            status: null,
            ms: 0,
            failure: 'url',
            error: `the registered url is not usable (${problem}); set the webhook again`,
          };
    const { delivered, status, ms, failure, error } = outcome;
    logger.info(
      { tenantId, endpoint: problem === null ? new URL(url).origin : null, delivered, status, ms, failure, error },
      'webhook test event sent',
    );
    return outcome;
  });

  app.delete('/v1/admin/tenants/:tenantId/webhook', WEBHOOK_DOCS.remove, async (request, reply) => {
    const tenantId = tenantIdOf(request);
    const result = await storeCall(() => removeTenantWebhook(pool, tenantId));
    if (result === null) throw noSuchTenant();
    if (result.removed) logger.info({ tenantId }, 'tenant webhook removed');
    return reply.code(204).send();
  });
}
