import {
  changeRuntimeConfig,
  readRuntimeConfig,
  rollbackRuntimeConfig,
  RuntimeConfigError,
  runtimeConfigVersions,
  type ConfigChange,
  type ConfigStore,
  type RuntimeConfig,
} from '@esh3ar/runtime';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { apiError, unavailable } from '../errors.ts';

export interface AdminRouteDeps {
  store: ConfigStore;
  logger: FastifyBaseLogger;
}

const Rollback = Type.Object({ version: Type.Integer({ minimum: 0 }) }, { additionalProperties: false });
const checkRollback = Compile(Rollback);

const HISTORY_DEFAULT_LIMIT = 100;
const HISTORY_MAX_LIMIT = 1000;
const CHANGED_BY_MAX_CHARS = 100;

/** Who made a change, for the history: the X-Changed-By header, else "admin". */
function changedBy(request: FastifyRequest): string {
  const header = request.headers['x-changed-by'];
  if (header === undefined) return 'admin';
  const value = typeof header === 'string' ? header.trim() : '';
  if (value.length === 0 || value.length > CHANGED_BY_MAX_CHARS || /\p{Cc}/u.test(value)) {
    throw apiError('VALIDATION_FAILED', `X-Changed-By must be 1 to ${CHANGED_BY_MAX_CHARS} printable characters`, [
      { path: 'headers/x-changed-by', message: 'invalid' },
    ]);
  }
  return value;
}

function historyLimit(query: unknown): number {
  const raw = (query as { limit?: unknown }).limit;
  if (raw === undefined) return HISTORY_DEFAULT_LIMIT;
  const limit = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || limit < 1 || limit > HISTORY_MAX_LIMIT) {
    throw apiError('VALIDATION_FAILED', `limit must be an integer from 1 to ${HISTORY_MAX_LIMIT}`, [
      { path: '/limit', message: 'invalid' },
    ]);
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

  app.get('/v1/admin/config', async () => storeCall(() => readRuntimeConfig(store)));

  app.put('/v1/admin/config', async (request) => {
    const by = changedBy(request);
    return answer(await storeCall(() => changeRuntimeConfig(store, request.body, by)), by);
  });

  app.get('/v1/admin/config/history', async (request) => {
    const limit = historyLimit(request.query);
    return { items: await storeCall(() => runtimeConfigVersions(store, limit)) };
  });

  app.post('/v1/admin/config/rollback', async (request) => {
    const by = changedBy(request);
    if (!checkRollback.Check(request.body)) {
      throw apiError('VALIDATION_FAILED', 'the body must be {"version": N} with N an integer ≥ 0', [
        { path: '/version', message: 'must be an integer ≥ 0' },
      ]);
    }
    const { version } = request.body;
    return answer(await storeCall(() => rollbackRuntimeConfig(store, version, by)), by);
  });
}
