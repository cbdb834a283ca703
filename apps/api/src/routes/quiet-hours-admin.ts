import { isUuid, QuietHoursRequest, QuietHoursView, validateQuietHours } from '@esh3ar/contracts';
import { getQuietHours, removeQuietHours, setQuietHours, type QuietHours } from '@esh3ar/db';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { Type } from 'typebox';
import { apiError } from '../errors.ts';
import { adminErrorResponses, ANSWERED_AS_BUILT, BODY_ERRORS, INPUT_CHECKED_BY_HANDLER, json, named } from '../route-docs.ts';
import { EXAMPLE_TENANT, storeCall, TENANTS } from './tenants-admin.ts';

export interface QuietHoursAdminDeps {
  pool: pg.Pool;
  logger: FastifyBaseLogger;
}

const PATH = '/v1/admin/tenants/:tenantId/quiet-hours';
const Params = Type.Object({ tenantId: Type.String({ format: 'uuid', description: 'The tenant' }) });
const EXAMPLE_VIEW = {
  tenantId: EXAMPLE_TENANT.id,
  start: '21:00',
  end: '08:00',
  defaultTimeZone: 'Asia/Riyadh',
  updatedAt: '2025-01-31T09:30:00.000Z',
};
const TENANT_PARAM_ERROR = { path: '/tenantId', message: '"tenantId" must be a UUID' };
const noQuietHours = (tenantId: string) => `tenant ${tenantId} has no quiet hours`;

const SEMANTICS =
  'Messages below `critical` that would go out inside the window are held as `scheduled` until it ends (the message view’s ' +
  '`heldReason` says so); `critical` messages pass. A held message whose TTL would pass before the window ends expires instead of ' +
  'going out late. The window is in the recipient’s local time: the time zone of the phone number’s country, or ' +
  '`defaultTimeZone` for a country with several zones and for email recipients. It may run past midnight (`21:00`–`08:00`): it ' +
  'opens at `start` and closes at `end`, both HH:MM, 24-hour, minutes the finest step (`9:00` and `21:00:00` are refused). ' +
  'The window is checked when a message is stored and when a scheduled one is released; what becomes due later inside it ' +
  '(an app message’s fallback, a provider retry, a DLQ replay) is not held. Workers apply a change within 2 s.';

/** The tenant named in the path: a malformed id is refused as such (an admin mistyped it), an unknown one is 404 later. */
function tenantIdOf(request: FastifyRequest): string {
  const { tenantId } = request.params as { tenantId: string };
  if (!isUuid(tenantId)) throw apiError('VALIDATION_FAILED', TENANT_PARAM_ERROR.message, [TENANT_PARAM_ERROR]);
  return tenantId;
}

function quietHoursJson(q: QuietHours) {
  return { tenantId: q.tenantId, start: q.starts, end: q.ends, defaultTimeZone: q.defaultTimeZone, updatedAt: q.updatedAt.toISOString() };
}

const documented = (schema: Record<string, unknown>) => ({
  ...INPUT_CHECKED_BY_HANDLER,
  ...ANSWERED_AS_BUILT,
  schema: { ...TENANTS, params: Params, ...schema },
});

/**
 * /v1/admin/tenants/:tenantId/quiet-hours: the window in which a tenant's messages below
 * critical are held (packages/db quiet-hours.ts stores it, the workers apply it). Registered
 * inside the admin scope, so ADMIN_TOKEN guards it.
 */
export function quietHoursAdminRoutes(app: FastifyInstance, deps: QuietHoursAdminDeps): void {
  const { pool, logger } = deps;

  app.put(
    PATH,
    documented({
      operationId: 'setTenantQuietHours',
      summary: 'Set a tenant’s quiet hours',
      description: `Replaces any set before. ${SEMANTICS}`,
      body: Type.With(QuietHoursRequest, {
        'x-examples': named({
          overnight: { start: '21:00', end: '08:00', defaultTimeZone: 'Asia/Riyadh' },
          afternoon: { start: '13:00', end: '15:30', defaultTimeZone: 'Europe/London' },
        }),
      }),
      response: {
        200: json('The quiet hours stored (the time zone as Intl names it: asia/riyadh is Asia/Riyadh)', QuietHoursView, {
          set: EXAMPLE_VIEW,
        }),
        ...adminErrorResponses([...BODY_ERRORS, 'NOT_FOUND'], { NOT_FOUND: 'no such tenant' }),
      },
    }),
    async (request) => {
      const tenantId = tenantIdOf(request);
      const checked = validateQuietHours(request.body);
      if (!checked.ok) throw apiError('VALIDATION_FAILED', checked.message, checked.details);
      const { start, end, defaultTimeZone } = checked.value;
      const stored = await storeCall(() => setQuietHours(pool, tenantId, { starts: start, ends: end, defaultTimeZone }));
      if (stored === null) throw apiError('NOT_FOUND', 'no such tenant');
      logger.info({ tenantId, start, end, defaultTimeZone }, 'tenant quiet hours set');
      return quietHoursJson(stored);
    },
  );

  app.get(
    PATH,
    documented({
      operationId: 'getTenantQuietHours',
      summary: 'A tenant’s quiet hours',
      description: SEMANTICS,
      response: {
        200: json('The quiet hours', QuietHoursView, { quietHours: EXAMPLE_VIEW }),
        ...adminErrorResponses(['VALIDATION_FAILED', 'NOT_FOUND'], { NOT_FOUND: noQuietHours(EXAMPLE_TENANT.id) }),
      },
    }),
    async (request) => {
      const tenantId = tenantIdOf(request);
      const found = await storeCall(() => getQuietHours(pool, tenantId));
      if (found === null) throw apiError('NOT_FOUND', noQuietHours(tenantId));
      return quietHoursJson(found);
    },
  );

  app.delete(
    PATH,
    documented({
      operationId: 'removeTenantQuietHours',
      summary: 'Remove a tenant’s quiet hours',
      description:
        'Its messages go out at any hour again. Messages already held stay `scheduled` until the end of the window that held them.',
      response: {
        204: Type.Null({ description: 'Removed' }),
        ...adminErrorResponses(['VALIDATION_FAILED', 'NOT_FOUND'], { NOT_FOUND: noQuietHours(EXAMPLE_TENANT.id) }),
      },
    }),
    async (request, reply) => {
      const tenantId = tenantIdOf(request);
      if (!(await storeCall(() => removeQuietHours(pool, tenantId)))) throw apiError('NOT_FOUND', noQuietHours(tenantId));
      logger.info({ tenantId }, 'tenant quiet hours removed');
      return reply.code(204).send();
    },
  );
}
