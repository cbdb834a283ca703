import { isUuid, UUID_PATTERN, type ErrorDetail } from '@esh3ar/contracts';
import { createTenant, listTenants, setTenantDisabled, type TenantView } from '@esh3ar/db';
import { publishKeyEvent } from '@esh3ar/queue';
import { TIERS } from '@esh3ar/runtime';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { apiError, unavailable } from '../errors.ts';

export interface TenantAdminDeps {
  pool: pg.Pool;
  /** Publishes "forget this tenant's keys" when a tenant is disabled or enabled. */
  redis: Redis;
  prefix: string;
  logger: FastifyBaseLogger;
}

const NewTenant = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    tier: Type.Union(TIERS.map((t) => Type.Literal(t))),
    rpm: Type.Optional(Type.Integer({ minimum: 1 })),
    burst: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
const checkNewTenant = Compile(NewTenant);

const TENANT_PAGE_DEFAULT = 100;
const TENANT_PAGE_MAX = 1000;
const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: TENANT_PAGE_MAX })),
  cursor: Type.Optional(Type.String({ pattern: UUID_PATTERN })),
});
const TenantItem = Type.Object({
  id: Type.String(),
  name: Type.String(),
  tier: Type.String(),
  rpm: Type.Union([Type.Integer(), Type.Null()]),
  burst: Type.Union([Type.Integer(), Type.Null()]),
  disabled: Type.Boolean(),
  createdAt: Type.String(),
});

/** One detail per field, named by its path ("/name is required", "unknown field /colour"). */
function tenantProblems(body: unknown): ErrorDetail[] {
  return [...checkNewTenant.Errors(body)].flatMap((e) => {
    const params = e.params as { requiredProperties?: string[]; additionalProperties?: string[] } | undefined;
    if (params?.requiredProperties) return params.requiredProperties.map((key) => ({ path: `/${key}`, message: `${key} is required` }));
    if (params?.additionalProperties)
      return params.additionalProperties.map((key) => ({ path: `/${key}`, message: `unknown field ${key}` }));
    return e.keyword === 'boolean'
      ? []
      : [{ path: e.instancePath || '/', message: `${e.instancePath.slice(1) || 'the body'} ${e.message}` }];
  });
}

/** A tenant as the admin API and the CLI print it. */
function tenantJson(t: TenantView) {
  return { id: t.id, name: t.name, tier: t.tier, rpm: t.rpm, burst: t.burst, disabled: t.disabled, createdAt: t.createdAt.toISOString() };
}

/** The tenant named in the path; a malformed id is as unknown as a missing one. */
export function tenantIdOf(request: FastifyRequest): string {
  const { tenantId } = request.params as { tenantId: string };
  if (!isUuid(tenantId)) throw apiError('NOT_FOUND', 'no such tenant');
  return tenantId;
}

/** PostgreSQL refusing or unreachable: 503, its error logged with the request id, never answered (no SQL in an answer). */
export async function storeCall<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw unavailable('the database', error);
  }
}

/**
 * /v1/admin/tenants: create, list (newest first, keyset-paged), disable and enable.
 * Registered inside the admin scope, so ADMIN_TOKEN guards it.
 */
export function tenantAdminRoutes(app: FastifyInstance, deps: TenantAdminDeps): void {
  const { pool, logger } = deps;

  app.post('/v1/admin/tenants', async (request, reply) => {
    if (!checkNewTenant.Check(request.body)) {
      const details = tenantProblems(request.body);
      throw apiError('VALIDATION_FAILED', `a tenant is {"name", "tier": ${TIERS.join(' | ')}, "rpm"?: ≥ 1, "burst"?: ≥ 0}`, details);
    }
    const body = request.body;
    const name = body.name.trim();
    if (name.length === 0) throw apiError('VALIDATION_FAILED', 'name must not be blank', [{ path: '/name', message: 'blank' }]);
    const { tenant, apiKey } = await storeCall(() =>
      createTenant(pool, { name, tier: body.tier, rpm: body.rpm ?? null, burst: body.burst ?? null }),
    );
    logger.info({ tenantId: tenant.id, tier: tenant.tier }, 'tenant created');
    return reply.code(201).send({ tenantId: tenant.id, apiKey });
  });

  app.get(
    '/v1/admin/tenants',
    {
      schema: {
        querystring: ListQuery,
        response: { 200: Type.Object({ items: Type.Array(TenantItem), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
      },
    },
    async (request) => {
      const { limit = TENANT_PAGE_DEFAULT, cursor } = request.query as { limit?: number; cursor?: string };
      const page = await storeCall(() => listTenants(pool, cursor ?? null, limit));
      return { items: page.items.map(tenantJson), nextCursor: page.hasMore ? page.items.at(-1)!.id : null };
    },
  );

  async function setDisabled(request: FastifyRequest, disabled: boolean) {
    const tenantId = tenantIdOf(request);
    const result = await storeCall(() => setTenantDisabled(pool, tenantId, disabled));
    if (result === null) throw apiError('NOT_FOUND', 'no such tenant');
    if (result.event !== null) {
      logger.info({ tenantId, disabled }, disabled ? 'tenant disabled' : 'tenant enabled');
      if (!(await publishKeyEvent(deps.redis, deps.prefix, result.event))) {
        logger.warn({ tenantId }, 'tenant change not announced on Redis; api processes apply it when they next read PostgreSQL (≤ 1 s)');
      }
    }
    return tenantJson(result.tenant);
  }

  app.post('/v1/admin/tenants/:tenantId/disable', { schema: { response: { 200: TenantItem } } }, async (request) =>
    setDisabled(request, true),
  );
  app.post('/v1/admin/tenants/:tenantId/enable', { schema: { response: { 200: TenantItem } } }, async (request) =>
    setDisabled(request, false),
  );
}
