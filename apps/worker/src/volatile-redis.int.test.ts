import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createDatabase, type ThrowawayDatabase } from '@esh3ar/db';
import { deletePrefix, NODE_FLAGS, REPO_ROOT, startPrivateRedis, uniquePrefix, type PrivateRedis } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/*
 * A worker on a Redis that may evict buffered jobs refuses to run, as the api does
 * (apps/api/src/startup-refusals.int.test.ts): a real process, stopping is the point.
 */
let db: ThrowawayDatabase;
let redis: PrivateRedis;
const prefix = uniquePrefix('worker-volatile-redis');

beforeAll(async () => {
  [db, redis] = await Promise.all([
    createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'worker-volatile-redis'),
    startPrivateRedis({ args: ['--maxmemory-policy', 'allkeys-lru'] }),
  ]);
});
afterAll(async () => {
  await redis?.destroy();
  await db?.drop();
  await deletePrefix(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix);
});

describe('worker on a Redis with an evicting maxmemory-policy', () => {
  it('exits 1 with a fatal line naming maxmemory-policy and ALLOW_VOLATILE_BUFFER', async () => {
    const child = spawn(process.execPath, [...NODE_FLAGS.worker, 'apps/worker/src/main.ts'], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        DATABASE_URL: db.url,
        REDIS_URL: redis.url,
        REDIS_PREFIX: prefix,
        OPS_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: Record<string, unknown>[] = [];
    createInterface({ input: child.stdout }).on('line', (text) => lines.push(JSON.parse(text) as Record<string, unknown>));
    const [code] = (await once(child, 'close')) as [number | null];
    expect(code).toBe(1);
    expect(lines.find((l) => l.level === 60)).toMatchObject({
      code: 'VOLATILE_REDIS',
      problems: [{ setting: 'maxmemory-policy', found: 'allkeys-lru', wanted: 'noeviction' }],
      msg: expect.stringMatching(/maxmemory-policy is allkeys-lru .*ALLOW_VOLATILE_BUFFER=on/),
    });
  });
});
