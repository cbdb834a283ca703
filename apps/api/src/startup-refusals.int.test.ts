import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createDatabase, type ThrowawayDatabase } from '@esh3ar/db';
import {
  deletePrefix,
  NODE_FLAGS,
  REPO_ROOT,
  send,
  startApp,
  startPrivateRedis,
  uniquePrefix,
  type AppProcess,
  type PrivateRedis,
} from '@esh3ar/stack';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/*
 * Deployments the api must refuse at start-up, as real processes (refusing to run is the
 * point): a Redis that can lose what it acknowledged, and an ADMIN_TOKEN anyone could guess.
 */
let db: ThrowawayDatabase;
const prefix = uniquePrefix('startup-refusals');
const redises: PrivateRedis[] = [];
const apps: AppProcess[] = [];

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'startup-refusals');
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.stop('SIGKILL')));
  await Promise.all(redises.splice(0).map((redis) => redis.destroy()));
});
afterAll(async () => {
  await db?.drop();
  await deletePrefix(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix);
});

const env = (redisUrl: string, extra: Record<string, string> = {}) => ({
  DATABASE_URL: db.url,
  REDIS_URL: redisUrl,
  REDIS_PREFIX: prefix,
  API_PORT: '0',
  ...extra,
});

async function privateRedis(args: readonly string[]): Promise<PrivateRedis> {
  const redis = await startPrivateRedis({ args });
  redises.push(redis);
  return redis;
}

/** Runs the api until it exits by itself: its exit code, its JSON log lines and its stderr. */
async function runToExit(environment: Record<string, string>) {
  const child = spawn(process.execPath, [...NODE_FLAGS.api, 'apps/api/src/main.ts'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', LOG_LEVEL: 'info', ...environment },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout }).on('line', (text) => lines.push(JSON.parse(text) as Record<string, unknown>));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, lines, stderr };
}

/** The exit code of a process that stops by itself (checked and awaited in one tick, so no exit is missed). */
async function exitCodeOf(app: AppProcess): Promise<number | null> {
  if (app.child.exitCode === null && app.child.signalCode === null) await once(app.child, 'exit');
  return app.child.exitCode;
}

const fatal = (lines: Record<string, unknown>[]) => lines.find((l) => l.level === 60);

describe('a Redis that can lose messages answered 202', () => {
  it('stops the api with exit 1 and a fatal line naming appendonly, the fix and the way out', async () => {
    const redis = await privateRedis(['--appendonly', 'no']);
    const { code, lines } = await runToExit(env(redis.url));
    expect(code).toBe(1);
    expect(fatal(lines)).toMatchObject({
      code: 'VOLATILE_REDIS',
      problems: [{ setting: 'appendonly', found: 'no', wanted: 'yes' }],
      msg: expect.stringMatching(/appendonly is no .*Set appendonly yes in redis\.conf.*ALLOW_VOLATILE_BUFFER=on/),
    });
  });

  it('stops it when Redis, unreachable at start-up, comes up without AOF: the check runs when Redis is first ready', async () => {
    const redis = await privateRedis(['--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru']);
    await redis.kill();
    const api = await startApp('api', env(redis.url));
    apps.push(api);
    expect((await send(api.url, null, 'GET', '/health/ready')).status).toBe(503);
    await redis.start();
    expect(await exitCodeOf(api)).toBe(1);
    expect(fatal(api.logs)).toMatchObject({
      code: 'VOLATILE_REDIS',
      msg: expect.stringContaining('appendonly is no and maxmemory-policy is allkeys-lru'),
    });
  });

  it('with ALLOW_VOLATILE_BUFFER=on runs, warning at start and logging an error at each check, and exports esh3ar_redis_volatile 1', async () => {
    const redis = await privateRedis(['--appendonly', 'no']);
    const api = await startApp('api', env(redis.url, { ALLOW_VOLATILE_BUFFER: 'on' }));
    apps.push(api);
    expect(await api.waitForLog((l) => l.level === 40)).toMatchObject({ msg: expect.stringContaining('ALLOW_VOLATILE_BUFFER=on') });
    expect(await api.waitForLog((l) => l.level === 50)).toMatchObject({
      msg: expect.stringMatching(/^ALLOW_VOLATILE_BUFFER=on, so running anyway: .*appendonly is no/),
    });
    expect((await send(api.url, null, 'GET', '/metrics')).body).toMatch(/^esh3ar_redis_volatile\{[^}]*\} 1$/m);
  });

  it('runs on a durable Redis (AOF, noeviction) with esh3ar_redis_volatile 0', async () => {
    const redis = await privateRedis([]);
    const api = await startApp('api', env(redis.url));
    apps.push(api);
    await api.waitForLog((l) => l.msg === 'Redis is durable: appendonly yes, maxmemory-policy noeviction');
    const metrics = await send(api.url, null, 'GET', '/metrics');
    expect(metrics.body).toMatch(/^esh3ar_redis_volatile\{[^}]*\} 0$/m);
    expect(api.logs.filter((l) => (l.level as number) >= 50)).toEqual([]);
  });
});

describe('ADMIN_TOKEN', () => {
  it.each([
    ['change-me', 'ADMIN_TOKEN is the placeholder "change-me" of the examples'],
    ['hunter2', 'ADMIN_TOKEN must be at least 32 characters, got 7'],
  ])('%j stops the api before it listens, with a message saying how to make a real one', async (token, message) => {
    const { code, lines, stderr } = await runToExit(env('redis://127.0.0.1:6379', { ADMIN_TOKEN: token }));
    expect(code).not.toBe(0);
    expect(stderr).toContain(message);
    expect(stderr).toContain('openssl rand -hex 32');
    expect(lines.find((l) => l.msg === 'api listening')).toBeUndefined();
  });
});
