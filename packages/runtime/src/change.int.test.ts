import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createDatabase, createPool, type ThrowawayDatabase } from '@esh3ar/db';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  changeRuntimeConfig,
  configChannel,
  readRuntimeConfig,
  rollbackRuntimeConfig,
  runtimeConfigVersions,
  type ConfigStore,
} from './change.ts';
import { RuntimeConfigError } from './document.ts';
import { runtimeConfigFromEnv } from './from-env.ts';
import { DEFAULT_RUNTIME_CONFIG } from './schema.ts';

let db: ThrowawayDatabase;
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `esh3ar-t-config-change-${randomUUID().slice(0, 8)}`;

let store: ConfigStore;
let subscriber: Redis;

async function versionCount(): Promise<number> {
  const { rows } = await store.pool.query<{ n: string }>('SELECT count(*) AS n FROM runtime_config_versions');
  return Number(rows[0]!.n);
}

async function refusal(promise: Promise<unknown>): Promise<RuntimeConfigError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RuntimeConfigError);
  return error as RuntimeConfigError;
}

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'config-change');
  const redis = new Redis(redisUrl);
  // A base that is not the built-in defaults: BUFFER_CAPACITY set in this "process's" environment.
  store = {
    pool: createPool(db.url, { max: 12, applicationName: 'esh3ar-test-config' }),
    redis,
    prefix,
    base: runtimeConfigFromEnv({ BUFFER_CAPACITY: '300' }),
  };
  // The teardown drops the database WITH (FORCE): a connection still closing then is
  // terminated by the server, which must not surface as an uncaught error.
  store.pool.on('error', () => undefined);
  subscriber = new Redis(redisUrl);
  await subscriber.subscribe(configChannel(prefix));
});
afterAll(async () => {
  subscriber?.disconnect();
  store?.redis.disconnect();
  await store?.pool.end();
  await db?.drop();
});

describe('runtime configuration versions', () => {
  it('starts at version 0: the base of the process reading it', async () => {
    expect(await readRuntimeConfig(store)).toEqual({ version: 0, config: store.base });
    const [zero] = await runtimeConfigVersions(store, 10);
    expect(zero).toEqual({ version: 0, changedAt: expect.any(String), changedBy: 'defaults', config: store.base });
  });

  it('stores a merged, whole document as the next version and announces it on <prefix>:config', async () => {
    const message = once(subscriber, 'message') as Promise<[string, string]>;
    const change = await changeRuntimeConfig(store, { buffer: { highWatermark: 0.5 } }, 'alice');
    expect(change).toEqual({ version: 1, config: { ...store.base, buffer: { capacity: 300, highWatermark: 0.5 } }, notified: true });
    expect(await message).toEqual([configChannel(prefix), '1']);
    const { rows } = await store.pool.query('SELECT config, changed_by FROM runtime_config_versions WHERE version = 1');
    expect(rows[0]).toEqual({ config: change.config, changed_by: 'alice' });
  });

  it.each([
    ['a negative capacity', { buffer: { capacity: -1 } }, '/buffer/capacity'],
    ['a watermark of 0', { buffer: { highWatermark: 0 } }, '/buffer/highWatermark'],
    ['a watermark over 1', { buffer: { highWatermark: 1.01 } }, '/buffer/highWatermark'],
    ['an unknown top-level key', { bufer: { capacity: 5 } }, '/bufer'],
    ['an unknown nested key', { rateLimit: { tiers: { gold: { rpm: 1, burst: 1 } } } }, '/rateLimit/tiers/gold'],
    ['a string for a number', { worker: { batchSize: '100' } }, '/worker/batchSize'],
    ['null for an object', { breaker: null }, '/breaker'],
    ['an array', [], '/'],
    ['a number', 5, '/'],
    // A recursive merge ran out of stack on it: 503 "unreachable" instead of 400.
    ['a change nested 10,000 deep', JSON.parse(`{"buffer":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`) as unknown, '/'],
    ['arrays nested 10,000 deep', JSON.parse(`{"buffer":${'['.repeat(10_000)}${']'.repeat(10_000)}}`) as unknown, '/'],
  ])('refuses %s and stores nothing', async (_name, patch, path) => {
    const before = await versionCount();
    const error = await refusal(changeRuntimeConfig(store, patch, 'mallory'));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details.map((d) => d.path)).toContain(path);
    expect(await versionCount()).toBe(before);
  });

  it('refuses the whole change when one of its values is invalid', async () => {
    const before = await readRuntimeConfig(store);
    await refusal(changeRuntimeConfig(store, { buffer: { capacity: 10 }, worker: { batchSize: 0 } }, 'mallory'));
    expect(await readRuntimeConfig(store)).toEqual(before);
  });

  it('makes concurrent changes successive versions, each built on the one before (no lost update)', async () => {
    const { version: start } = await readRuntimeConfig(store);
    const tiers = ['basic', 'premium', 'enterprise'] as const;
    const changes = await Promise.all(
      Array.from({ length: 9 }, (_, i) =>
        changeRuntimeConfig(
          store,
          { rateLimit: { tiers: { [tiers[i % 3]!]: i < 3 ? { rpm: 11 + i } : i < 6 ? { burst: 21 + i } : {} } } },
          `writer-${i}`,
        ),
      ),
    );
    expect(changes.map((c) => c.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 9 }, (_, i) => start + 1 + i));
    const { config } = await readRuntimeConfig(store);
    expect(config).toMatchObject({
      rateLimit: { tiers: { basic: { rpm: 11, burst: 24 }, premium: { rpm: 12, burst: 25 }, enterprise: { rpm: 13, burst: 26 } } },
    });
  });

  it('rolls back to a version as a new version, to 0 as the base; an unknown version is NOT_FOUND and stores nothing', async () => {
    const { version: before } = await readRuntimeConfig(store);
    const back = await rollbackRuntimeConfig(store, 1, 'bob');
    expect(back.version).toBe(before + 1);
    expect(back.config).toEqual({ ...store.base, buffer: { capacity: 300, highWatermark: 0.5 } });

    const toZero = await rollbackRuntimeConfig(store, 0, 'bob');
    expect(toZero).toMatchObject({ version: before + 2, config: store.base });
    const { rows } = await store.pool.query('SELECT config FROM runtime_config_versions WHERE version = $1', [toZero.version]);
    expect(rows[0].config).toBeNull();
    // Another process, with the built-in defaults as its base, reads that version as its own defaults.
    expect((await readRuntimeConfig({ pool: store.pool, base: DEFAULT_RUNTIME_CONFIG })).config).toEqual(DEFAULT_RUNTIME_CONFIG);

    const count = await versionCount();
    expect((await refusal(rollbackRuntimeConfig(store, 999, 'bob'))).code).toBe('NOT_FOUND');
    expect((await refusal(rollbackRuntimeConfig(store, -1, 'bob'))).code).toBe('VALIDATION_FAILED');
    expect((await refusal(rollbackRuntimeConfig(store, 1.5, 'bob'))).code).toBe('VALIDATION_FAILED');
    expect(await versionCount()).toBe(count);
  });

  it('lists the history newest first, down to version 0, with who and when', async () => {
    const items = await runtimeConfigVersions(store, 1000);
    expect(items.map((i) => i.version)).toEqual(Array.from({ length: items.length }, (_, i) => items.length - 1 - i));
    expect(items.at(-1)).toMatchObject({ version: 0, changedBy: 'defaults' });
    expect(items.find((i) => i.version === 1)).toMatchObject({ changedBy: 'alice', config: { buffer: { highWatermark: 0.5 } } });
    for (const item of items) expect(Date.parse(item.changedAt)).not.toBeNaN();
    expect(await runtimeConfigVersions(store, 2)).toHaveLength(2);
  });

  it('still stores the change when the notification cannot be published (the watchers poll)', async () => {
    const broken = new Redis(redisUrl, { lazyConnect: true, enableOfflineQueue: false });
    broken.on('error', () => undefined);
    const change = await changeRuntimeConfig({ ...store, redis: broken }, { gateway: { ackTimeoutMs: 5000 } }, 'carol');
    expect(change.notified).toBe(false);
    expect((await readRuntimeConfig(store)).version).toBe(change.version);
    broken.disconnect();
  });
});
