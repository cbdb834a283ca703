import { describeSchemaErrors, isUuid, STORABLE_TEXT_PATTERN, UUID_PATTERN } from '@esh3ar/contracts';
import { createTenant, listTenants, setTenantDisabled, TENANT_LIMIT_MAX, type TenantView } from '@esh3ar/db';
import { publishKeyEvent, type RedisClient } from '@esh3ar/queue';
import { TIERS } from '@esh3ar/runtime';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { apiError, unavailable } from '../errors.ts';
import { adminErrorResponses, ANSWERED_AS_BUILT, BODY_ERRORS, INPUT_CHECKED_BY_HANDLER, json, named, SECURITY } from '../route-docs.ts';

export interface TenantAdminDeps {
  pool: pg.Pool;
  /** Publishes "forget this tenant's keys" when a tenant is disabled or enabled. */
  redis: RedisClient;
  prefix: string;
  logger: FastifyBaseLogger;
}

const NewTenant = Type.Object(
  {
    // PostgreSQL text holds no NUL, and a lone surrogate would be stored as U+FFFD.
    name: Type.String({ minLength: 1, maxLength: 200, pattern: STORABLE_TEXT_PATTERN }),
    tier: Type.Union(TIERS.map((t) => Type.Literal(t))),
    rpm: Type.Optional(Type.Integer({ minimum: 1, maximum: TENANT_LIMIT_MAX })),
    burst: Type.Optional(Type.Integer({ minimum: 0, maximum: TENANT_LIMIT_MAX })),
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

/** What every /v1/admin/tenants* route's schema shares. */
export const TENANTS = { tags: ['admin: tenants'], security: SECURITY.adminToken };
export const EXAMPLE_TENANT = {
  id: '01948a3e-1f2a-7b3c-8d4e-5f6a7b8c9d0e',
  name: 'Acme Stores',
  tier: 'premium',
  rpm: null,
  burst: null,
  disabled: false,
  createdAt: '2025-01-31T09:30:00.000Z',
};
export const EXAMPLE_API_KEY = 'esh_q3Jd9kQm2Xr7TbW5vNc8LpZ4yHs6Fg1AeR0tUi2oPwXy';

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

  app.post(
    '/v1/admin/tenants',
    {
      ...INPUT_CHECKED_BY_HANDLER,
      ...ANSWERED_AS_BUILT,
      schema: {
        ...TENANTS,
        operationId: 'createTenant',
        summary: 'Create a tenant and its first API key',
        description: 'The API key is shown here once; only its hash is stored. `rpm` and `burst` override the tier’s limits.',
        body: Type.With(NewTenant, {
          'x-examples': named({
            premium: { name: 'Acme Stores', tier: 'premium' },
            custom: { name: 'Beta Ltd', tier: 'basic', rpm: 500, burst: 50 },
          }),
        }),
        response: {
          201: json('Created', Type.Object({ tenantId: Type.String({ format: 'uuid' }), apiKey: Type.String() }), {
            created: { tenantId: EXAMPLE_TENANT.id, apiKey: EXAMPLE_API_KEY },
          }),
          ...adminErrorResponses(BODY_ERRORS),
        },
      },
    },
    async (request, reply) => {
      if (!checkNewTenant.Check(request.body)) {
        const details = describeSchemaErrors(checkNewTenant.Errors(request.body), { schema: NewTenant });
        throw apiError('VALIDATION_FAILED', details[0]?.message ?? 'the body must be a tenant', details);
      }
      const body = request.body;
      const name = body.name.trim();
      if (name.length === 0)
        throw apiError('VALIDATION_FAILED', '"name" must not be blank', [{ path: '/name', message: '"name" must not be blank' }]);
      const { tenant, apiKey } = await storeCall(() =>
        createTenant(pool, { name, tier: body.tier, rpm: body.rpm ?? null, burst: body.burst ?? null }),
      );
      logger.info({ tenantId: tenant.id, tier: tenant.tier }, 'tenant created');
      return reply.code(201).send({ tenantId: tenant.id, apiKey });
    },
  );

  app.get(
    '/v1/admin/tenants',
    {
      schema: {
        ...TENANTS,
        operationId: 'listTenants',
        summary: 'List tenants, newest first',
        description: 'Keyset-paged: pass `nextCursor` as `cursor` for the next page.',
        querystring: ListQuery,
        response: {
          200: json(
            'A page of tenants',
            Type.Object({ items: Type.Array(TenantItem), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
            {
              page: { items: [EXAMPLE_TENANT], nextCursor: null },
            },
          ),
          ...adminErrorResponses(['VALIDATION_FAILED']),
        },
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

  const switched = (disabled: boolean) => ({
    schema: {
      ...TENANTS,
      operationId: disabled ? 'disableTenant' : 'enableTenant',
      summary: disabled ? 'Disable a tenant: its keys are refused' : 'Enable a disabled tenant',
      description: 'Every api process applies it within 2 s.',
      response: {
        200: json('The tenant', TenantItem, { tenant: { ...EXAMPLE_TENANT, disabled } }),
        ...adminErrorResponses(['NOT_FOUND'], { NOT_FOUND: 'no such tenant' }),
      },
    },
  });
  app.post('/v1/admin/tenants/:tenantId/disable', switched(true), async (request) => setDisabled(request, true));
  app.post('/v1/admin/tenants/:tenantId/enable', switched(false), async (request) => setDisabled(request, false));
}
