import {
  changeRuntimeConfig,
  DEFAULT_RUNTIME_CONFIG,
  RuntimeConfig,
  readRuntimeConfig,
  rollbackRuntimeConfig,
  RuntimeConfigError,
  runtimeConfigVersions,
  type ConfigChange,
  type ConfigStore,
} from '@esh3ar/runtime';
import { describeSchemaErrors, type ErrorCode } from '@esh3ar/contracts';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { apiError, unavailable } from '../errors.ts';
import { adminErrorResponses, ANSWERED_AS_BUILT, BODY_ERRORS, INPUT_CHECKED_BY_HANDLER, json, named, SECURITY } from '../route-docs.ts';

export interface AdminRouteDeps {
  store: ConfigStore;
  logger: FastifyBaseLogger;
}

const Rollback = Type.Object({ version: Type.Integer({ minimum: 0 }) }, { additionalProperties: false });
const checkRollback = Compile(Rollback);

const HISTORY_DEFAULT_LIMIT = 100;
const HISTORY_MAX_LIMIT = 1000;
const CHANGED_BY_MAX_CHARS = 100;

const Versioned = Type.Object({ version: Type.Integer({ minimum: 0 }), config: RuntimeConfig });
const EXAMPLE = { version: 3, config: DEFAULT_RUNTIME_CONFIG };
const ChangedBy = Type.Object({
  'x-changed-by': Type.Optional(
    Type.String({ minLength: 1, maxLength: CHANGED_BY_MAX_CHARS, description: 'Who changes it, for the history (default admin)' }),
  ),
});

/** Every route here checks its own input and answers what the configuration store returns. */
function documented(schema: Record<string, unknown>, success: Record<number, unknown>, errors: ErrorCode[], messages = {}) {
  return {
    ...INPUT_CHECKED_BY_HANDLER,
    ...ANSWERED_AS_BUILT,
    schema: {
      tags: ['admin: runtime config'],
      security: SECURITY.adminToken,
      ...schema,
      response: {
        ...success,
        ...adminErrorResponses(errors, { UNAVAILABLE: 'the configuration store is unreachable; retry shortly', ...messages }),
      },
    },
  };
}

/** Who made a change, for the history: the X-Changed-By header, else "admin". */
function changedBy(request: FastifyRequest): string {
  const header = request.headers['x-changed-by'];
  if (header === undefined) return 'admin';
  const value = typeof header === 'string' ? header.trim() : '';
  if (value.length === 0 || value.length > CHANGED_BY_MAX_CHARS || /\p{Cc}/u.test(value)) {
    const message = `X-Changed-By must be 1 to ${CHANGED_BY_MAX_CHARS} printable characters`;
    throw apiError('VALIDATION_FAILED', message, [{ path: 'headers/x-changed-by', message }]);
  }
  return value;
}

function historyLimit(query: unknown): number {
  const raw = (query as { limit?: unknown }).limit;
  if (raw === undefined) return HISTORY_DEFAULT_LIMIT;
  const limit = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || limit < 1 || limit > HISTORY_MAX_LIMIT) {
    const message = `"limit" must be an integer from 1 to ${HISTORY_MAX_LIMIT}`;
    throw apiError('VALIDATION_FAILED', message, [{ path: '/limit', message }]);
  }
  return limit;
}

/** The contract's errors for what the configuration store throws. */
async function storeCall<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof RuntimeConfigError) throw apiError(error.code, error.message, error.details);
    throw unavailable('the configuration store', error);
  }
}

/**
 * /v1/admin/config* (tenants and their keys: tenants-admin.ts, keys-admin.ts). The caller
 * registers them only when ADMIN_TOKEN is set (otherwise these paths are 404), in a scope
 * that authenticates every request by that token alone (authenticateAdmin).
 */
export function adminRoutes(app: FastifyInstance, deps: AdminRouteDeps): void {
  const { store, logger } = deps;

  function answer(change: ConfigChange, by: string): { version: number; config: RuntimeConfig } {
    logger.info({ version: change.version, changedBy: by }, 'runtime configuration stored');
    if (!change.notified)
      logger.warn({ version: change.version }, 'change not announced on Redis; processes apply it when they next poll (~1 s)');
    return { version: change.version, config: change.config };
  }

  app.get(
    '/v1/admin/config',
    documented(
      {
        operationId: 'getRuntimeConfig',
        summary: 'The runtime configuration in force',
      },
      { 200: json('The newest version', Versioned, { current: EXAMPLE }) },
      [],
    ),
    async () => storeCall(() => readRuntimeConfig(store)),
  );

  app.put(
    '/v1/admin/config',
    documented(
      {
        operationId: 'changeRuntimeConfig',
        summary: 'Change settings',
        description:
          'Deep-merged over the newest version; the whole result is checked, stored as the next version, and applied by every process within 2 s.',
        headers: ChangedBy,
        body: Type.Object(
          {},
          {
            additionalProperties: true,
            description: 'Any part of the document',
            'x-examples': named({ capacity: { buffer: { capacity: 20000 } } }),
          },
        ),
      },
      { 200: json('The version stored', Versioned, { stored: EXAMPLE }) },
      BODY_ERRORS,
    ),
    async (request) => {
      const by = changedBy(request);
      return answer(await storeCall(() => changeRuntimeConfig(store, request.body, by)), by);
    },
  );

  app.get(
    '/v1/admin/config/history',
    documented(
      {
        operationId: 'runtimeConfigHistory',
        summary: 'Versions, newest first',
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: HISTORY_MAX_LIMIT, description: `Default ${HISTORY_DEFAULT_LIMIT}` })),
        }),
      },
      {
        200: json(
          'Versions, newest first',
          Type.Object({
            items: Type.Array(
              Type.Object({
                version: Type.Integer(),
                changedAt: Type.String({ format: 'date-time' }),
                changedBy: Type.String(),
                config: RuntimeConfig,
              }),
            ),
          }),
          { history: { items: [{ ...EXAMPLE, changedAt: '2025-01-31T09:30:00.000Z', changedBy: 'ops@example.com' }] } },
        ),
      },
      ['VALIDATION_FAILED'],
    ),
    async (request) => {
      const limit = historyLimit(request.query);
      return { items: await storeCall(() => runtimeConfigVersions(store, limit)) };
    },
  );

  app.post(
    '/v1/admin/config/rollback',
    documented(
      {
        operationId: 'rollBackRuntimeConfig',
        summary: 'Make an earlier version the newest',
        description: 'Stored as a new version with the content of `version`.',
        headers: ChangedBy,
        body: Type.With(Rollback, { 'x-examples': named({ toVersion2: { version: 2 } }) }),
      },
      { 200: json('The version stored', Versioned, { stored: EXAMPLE }) },
      [...BODY_ERRORS, 'NOT_FOUND'],
      {
        NOT_FOUND: 'no runtime configuration version 9',
      },
    ),
    async (request) => {
      const by = changedBy(request);
      if (!checkRollback.Check(request.body)) {
        const [detail] = describeSchemaErrors(checkRollback.Errors(request.body), { schema: Rollback });
        const message = `${detail?.message ?? 'the body is invalid'}: the body is {"version": N} with N an integer ≥ 0`;
        throw apiError('VALIDATION_FAILED', message, [{ path: detail?.path ?? '/version', message }]);
      }
      const { version } = request.body;
      return answer(await storeCall(() => rollbackRuntimeConfig(store, version, by)), by);
    },
  );
}
