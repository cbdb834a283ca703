import { randomBytes } from 'node:crypto';
import { createTenant, createPool, type TenantTier } from '@esh3ar/db';
import { createSigner } from 'fast-jwt';
import type pg from 'pg';
import { createDatabase, type ThrowawayDatabase } from '@esh3ar/db';
import { startApp, type AppProcess } from './processes.ts';
import { deletePrefix, uniquePrefix } from './redis-prefix.ts';

export interface StackOptions {
  api?: boolean;
  workers?: number;
  gateways?: number;
  /** Extra environment for every process. */
  env?: Record<string, string>;
  databaseUrl?: string;
  redisUrl?: string;
  /** Another checkout to run the processes from (bench/ingest/cost.ts compares revisions). */
  root?: string;
}

export interface Stack {
  db: ThrowawayDatabase;
  prefix: string;
  /** The environment every process of this stack gets. */
  env: Record<string, string>;
  pool: pg.Pool;
  api: AppProcess | undefined;
  workers: AppProcess[];
  gateways: AppProcess[];
  startWorker(env?: Record<string, string>): Promise<AppProcess>;
  startGateway(env?: Record<string, string>): Promise<AppProcess>;
  /** A device token for the gateways of this stack. */
  deviceToken(phone: string, ttlSeconds?: number): string;
  tenant(tier?: TenantTier, limits?: { rpm?: number; burst?: number }): Promise<{ tenantId: string; apiKey: string }>;
  close(): Promise<void>;
}

/**
 * A whole Esh3ar of its own for one test file or benchmark: a fresh database and
 * REDIS_PREFIX, the api and N workers as real processes on free ports.
 */
export async function startStack(label: string, options: StackOptions = {}): Promise<Stack> {
  const databaseUrl = options.databaseUrl ?? process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar';
  const redisUrl = options.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const db = await createDatabase(databaseUrl, label);
  const prefix = uniquePrefix(label);
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    API_PORT: '0',
    OPS_PORT: '0',
    GATEWAY_PORT: '0',
    // The gateway refuses a secret under 32 characters.
    DEVICE_TOKEN_SECRET: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'info',
    ...options.env,
  };
  const pool = createPool(db.url, { max: 4, applicationName: `esh3ar-test-${label}` });
  // Tests stop PostgreSQL on purpose: an idle connection it drops is replaced on next use.
  pool.on('error', () => undefined);
  const workers: AppProcess[] = [];
  const gateways: AppProcess[] = [];
  const stack: Stack = {
    db,
    prefix,
    env,
    pool,
    api: undefined,
    workers,
    gateways,
    async startWorker(extra = {}) {
      const worker = await startApp('worker', { ...env, ...extra }, { root: options.root });
      workers.push(worker);
      return worker;
    },
    async startGateway(extra = {}) {
      const gateway = await startApp('gateway', { ...env, ...extra }, { root: options.root });
      gateways.push(gateway);
      return gateway;
    },
    deviceToken(phone, ttlSeconds = 3600) {
      return createSigner({ key: env.DEVICE_TOKEN_SECRET!, algorithm: 'HS256', expiresIn: ttlSeconds * 1000 })({ sub: phone });
    },
    async tenant(tier = 'enterprise', limits = {}) {
      const { tenant, apiKey } = await createTenant(pool, {
        name: `${label} tenant`,
        tier,
        rpm: limits.rpm ?? null,
        burst: limits.burst ?? null,
      });
      return { tenantId: tenant.id, apiKey };
    },
    async close() {
      await Promise.allSettled([
        stack.api?.stop('SIGKILL'),
        ...workers.map((w) => w.stop('SIGKILL')),
        ...gateways.map((g) => g.stop('SIGKILL')),
      ]);
      await stack.pool.end();
      await Promise.allSettled([db.drop(), deletePrefix(redisUrl, prefix)]);
    },
  };
  try {
    const [api] = await Promise.all([
      options.api === false ? undefined : startApp('api', env, { root: options.root }),
      ...Array.from({ length: options.workers ?? 0 }, () => stack.startWorker()),
      ...Array.from({ length: options.gateways ?? 0 }, () => stack.startGateway()),
    ]);
    stack.api = api;
  } catch (error) {
    await stack.close();
    throw error;
  }
  return stack;
}

/** Polls `probe` until it returns a value that `done` accepts (for state held by another process). */
export async function waitFor<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** A JSON request to the api with a tenant's key. */
export async function send(
  baseUrl: string,
  apiKey: string | null,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON answer, read by tests as they please
): Promise<{ status: number; headers: Headers; body: any }> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      ...(apiKey === null ? {} : { authorization: `Bearer ${apiKey}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    // not JSON: the raw text is the body
  }
  return { status: response.status, headers: response.headers, body: parsed };
}
