import { isUuid } from '@esh3ar/contracts';
import { parseArgs } from 'node:util';
import { createApiKey, listApiKeys, listTenants, revokeApiKey, setTenantDisabled, type KeyEvent } from '@esh3ar/db';
import { createRedis, publishKeyEvent } from '@esh3ar/queue';
import type { Logger } from 'pino';
import type { CliConfig } from './config.ts';
import { withPool } from './cli-pool.ts';
import { UsageError } from './usage-error.ts';

function options<K extends string>(args: string[], names: readonly K[]): Partial<Record<K, string>> {
  try {
    const spec = Object.fromEntries(names.map((name) => [name, { type: 'string' as const }]));
    return parseArgs({ args, options: spec, strict: true }).values as Partial<Record<K, string>>;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function uuidOption(value: string | undefined, name: string, what: string): string {
  if (value === undefined || !isUuid(value)) throw new UsageError(`--${name} must be ${what} (a UUID)`);
  return value;
}

/** Tells the api processes at once; Redis unreachable only delays it to their next read of PostgreSQL (≤ 1 s). */
async function announce(config: CliConfig, logger: Logger, event: KeyEvent): Promise<void> {
  const redis = createRedis(config.redis.url, { name: 'esh3ar-cli', failFast: true });
  redis.on('error', (error) => logger.debug({ err: error }, 'redis connection error'));
  try {
    const connected = await redis.connect().then(
      () => true,
      () => false,
    );
    if (!connected || !(await publishKeyEvent(redis, config.redis.prefix, event))) {
      logger.warn('Redis unreachable: api processes apply this change when they next read PostgreSQL (within 1 s)');
    }
  } finally {
    redis.disconnect();
  }
}

/** `tenant list [--limit N] [--cursor C]`: {"items", "nextCursor"}, newest first, as GET /v1/admin/tenants. */
export async function runTenantList(config: CliConfig, args: string[]): Promise<string> {
  const values = options(args, ['limit', 'cursor']);
  const text = values.limit ?? '100';
  const limit = Number(text);
  if (!/^\d+$/.test(text) || limit < 1 || limit > 1000) throw new UsageError('--limit must be an integer from 1 to 1000');
  const cursor = values.cursor === undefined ? null : uuidOption(values.cursor, 'cursor', 'a nextCursor printed before');
  const page = await withPool(config, (pool) => listTenants(pool, cursor, limit));
  return JSON.stringify({ items: page.items, nextCursor: page.hasMore ? page.items.at(-1)!.id : null });
}

/** `tenant disable|enable --tenant ID`: the tenant as `tenant list` prints it. */
export async function runTenantSetDisabled(config: CliConfig, logger: Logger, disabled: boolean, args: string[]): Promise<string> {
  const tenantId = uuidOption(options(args, ['tenant']).tenant, 'tenant', 'a tenant id');
  const result = await withPool(config, (pool) => setTenantDisabled(pool, tenantId, disabled));
  if (result === null) throw new Error(`no tenant ${tenantId}`);
  if (result.event !== null) await announce(config, logger, result.event);
  return JSON.stringify(result.tenant);
}

/** `tenant key create|list|revoke --tenant ID [--key KEYID]`. */
export async function runTenantKey(config: CliConfig, logger: Logger, sub: string | undefined, args: string[]): Promise<string> {
  switch (sub) {
    case 'create': {
      const tenantId = uuidOption(options(args, ['tenant']).tenant, 'tenant', 'a tenant id');
      const key = await withPool(config, (pool) => createApiKey(pool, tenantId));
      if (key === null) throw new Error(`no tenant ${tenantId}`);
      return JSON.stringify(key);
    }
    case 'list': {
      const tenantId = uuidOption(options(args, ['tenant']).tenant, 'tenant', 'a tenant id');
      const keys = await withPool(config, (pool) => listApiKeys(pool, tenantId));
      if (keys === null) throw new Error(`no tenant ${tenantId}`);
      return JSON.stringify({ items: keys });
    }
    case 'revoke': {
      const values = options(args, ['tenant', 'key']);
      const tenantId = uuidOption(values.tenant, 'tenant', 'a tenant id');
      const keyId = uuidOption(values.key, 'key', 'a key id');
      const event = await withPool(config, (pool) => revokeApiKey(pool, tenantId, keyId));
      if (event === null) throw new Error(`tenant ${tenantId} has no key ${keyId} in use`);
      await announce(config, logger, event);
      return JSON.stringify({ tenantId, keyId, revoked: true });
    }
    default:
      throw new UsageError(`unknown tenant key command "${sub ?? ''}"`);
  }
}
