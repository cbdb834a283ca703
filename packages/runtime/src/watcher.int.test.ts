import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { createDatabase, createPool, type ThrowawayDatabase } from '@esh3ar/db';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeRuntimeConfig, rollbackRuntimeConfig, type ConfigStore } from './change.ts';
import { runtimeConfigFromEnv } from './from-env.ts';
import { appendRuntimeConfig } from './versions.ts';
import { RuntimeConfigWatcher, type AppliedConfig, type WatcherOptions } from './watcher.ts';

let db: ThrowawayDatabase;
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `esh3ar-t-config-watch-${randomUUID().slice(0, 8)}`;
const base = runtimeConfigFromEnv({ BUFFER_CAPACITY: '200' });

let store: ConfigStore;
const watchers: RuntimeConfigWatcher[] = [];

/** A watcher whose applied versions and log lines the test can await. */
async function watch(options: Partial<WatcherOptions> = {}) {
  const applied: AppliedConfig[] = [];
  const logs: Record<string, unknown>[] = [];
  const waiters: { version: number; resolve: (a: AppliedConfig) => void }[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  );
  const watcher = await RuntimeConfigWatcher.start({
    pool: store.pool,
    redis: { url: redisUrl, clusterNodes: null },
    prefix,
    base,
    logger,
    ...options,
    onChange: (a) => {
      applied.push(a);
      for (const w of waiters.filter((w) => w.version === a.version)) w.resolve(a);
    },
  });
  watchers.push(watcher);
  const applies = (version: number) =>
    applied.find((a) => a.version === version) ?? new Promise<AppliedConfig>((resolve) => waiters.push({ version, resolve }));
  return { watcher, applied, logs, applies };
}

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'config-watch');
  store = { pool: createPool(db.url, { max: 8, applicationName: 'esh3ar-test-watch' }), redis: new Redis(redisUrl), prefix, base };
  // The teardown drops the database WITH (FORCE): a connection still closing then is
  // terminated by the server, which must not surface as an uncaught error.
  store.pool.on('error', () => undefined);
});
afterAll(async () => {
  await Promise.allSettled(watchers.map((w) => w.close()));
  store?.redis.disconnect();
  await store?.pool.end();
  await db?.drop();
});

describe('RuntimeConfigWatcher', () => {
  it('starts on the newest version (0: its base) and reports it', async () => {
    const { watcher, applied, logs } = await watch();
    expect(watcher.version).toBe(0);
    expect(watcher.current()).toEqual(base);
    expect(applied.map((a) => a.version)).toEqual([0]);
    expect(logs).toContainEqual(expect.objectContaining({ msg: 'runtime configuration applied', version: 0, changedBy: 'defaults' }));
  });

  it('applies a change at once on its notification (polling far too slow to explain it), and logs who made it', async () => {
    const { watcher, logs, applies } = await watch({ pollMs: 600_000 });
    const started = performance.now();
    const change = await changeRuntimeConfig(store, { buffer: { capacity: 25 } }, 'alice');
    const applied = await applies(change.version);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(applied.config.buffer.capacity).toBe(25);
    expect(watcher.current()).toEqual(change.config);
    expect(Object.isFrozen(watcher.current().buffer)).toBe(true);
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: 'runtime configuration applied', version: change.version, changedBy: 'alice' }),
    );
  });

  it('converges by polling when no notification comes', async () => {
    const { watcher, applies } = await watch({ pollMs: 100 });
    // Stored without publishing: as if the notification had been lost.
    const stored = await appendRuntimeConfig(store.pool, 'silent', () => ({
      ...structuredClone(base),
      buffer: { capacity: 77, highWatermark: 0.9 },
    }));
    await applies(stored.version);
    expect(watcher.current().buffer).toEqual({ capacity: 77, highWatermark: 0.9 });
  });

  it('applies every version in turn, a rollback to 0 included, in several processes alike', async () => {
    const a = await watch({ pollMs: 600_000 });
    const b = await watch({ pollMs: 600_000 });
    const first = await changeRuntimeConfig(store, { worker: { batchSize: 10 } }, 'bob');
    await Promise.all([a.applies(first.version), b.applies(first.version)]);
    const zero = await rollbackRuntimeConfig(store, 0, 'bob');
    const [inA, inB] = await Promise.all([a.applies(zero.version), b.applies(zero.version)]);
    expect(inA.config).toEqual(base);
    expect(inB.config).toEqual(base);
  });

  it('keeps the version in force when the newest one does not fit the schema, and says so once', async () => {
    const { watcher, logs } = await watch({ pollMs: 50 });
    const before = watcher.version;
    const bad = await appendRuntimeConfig(store.pool, 'a script', () => ({ buffer: { capacity: -3 } }));
    await watcher.refresh();
    await watcher.refresh();
    expect(watcher.version).toBe(before);
    expect(
      logs.filter(
        (l) => l.msg === 'stored runtime configuration does not fit this process; keeping the one in force' && l.version === bad.version,
      ),
    ).toHaveLength(1);
    // Fixed by the next version.
    const fixed = await changeRuntimeConfig(store, { buffer: { capacity: 40 } }, 'alice');
    await watcher.refresh();
    expect(watcher.version).toBe(fixed.version);
    expect(watcher.current().buffer.capacity).toBe(40);
  });

  it('runs on its base while PostgreSQL cannot be reached, and says so', async () => {
    const unreachable = createPool('postgres://127.0.0.1:1/nowhere', { max: 1, applicationName: 'esh3ar-test-watch' });
    const { watcher, logs } = await watch({ pool: unreachable, pollMs: 600_000 });
    expect(watcher.version).toBe(-1);
    expect(watcher.current()).toBe(base);
    expect(logs).toContainEqual(expect.objectContaining({ level: 40, msg: 'runtime configuration not read; keeping the one in force' }));
    await watcher.close();
    await unreachable.end();
  });

  it('close() stops reading and releases its connection', async () => {
    const { watcher } = await watch({ pollMs: 10 });
    await watcher.close();
    const version = watcher.version;
    await changeRuntimeConfig(store, { buffer: { capacity: 41 } }, 'alice');
    await watcher.refresh();
    expect(watcher.version).toBe(version);
  });
});
