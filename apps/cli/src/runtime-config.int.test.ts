import { userInfo } from 'node:os';
import { DEFAULT_RUNTIME_CONFIG } from '@esh3ar/runtime';
import { createDatabase, deletePrefix, runCli, uniquePrefix, type ThrowawayDatabase } from '@esh3ar/stack';
import { createRedis } from '@esh3ar/queue';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { esh3arInProcess } from './cli.test-kit.ts';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('cli-config');
let db: ThrowawayDatabase;
let subscriber: ReturnType<typeof createRedis>;
const notifications: string[] = [];

const esh3ar = (args: string[]) => runCli(args, { DATABASE_URL: db.url, REDIS_URL: redisUrl, REDIS_PREFIX: prefix });

async function versions(): Promise<number> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM runtime_config_versions').finally(() => client.end());
  return Number(rows[0]!.n);
}

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'cli-config');
  subscriber = createRedis(redisUrl, { name: 'esh3ar-test-cli-config', failFast: false });
  await subscriber.connect();
  subscriber.on('message', (_channel: string, message: string) => notifications.push(message));
  await subscriber.subscribe(`${prefix}:config`);
});
afterAll(async () => {
  subscriber?.disconnect();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

describe('pnpm esh3ar config', () => {
  it('get prints the version in force, as JSON', async () => {
    const r = await esh3ar(['config', 'get']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ version: 0, config: DEFAULT_RUNTIME_CONFIG });
  });

  it('set KEY VALUE stores the next version through the same checks as the admin API, and announces it', async () => {
    const r = await esh3ar(['config', 'set', 'buffer.capacity', '20000']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      version: 1,
      config: { ...DEFAULT_RUNTIME_CONFIG, buffer: { capacity: 20_000, highWatermark: 0.8 } },
    });
    expect(notifications).toContain('1');

    // VALUE is JSON when it parses: a number, or a whole object.
    expect(JSON.parse((await esh3ar(['config', 'set', 'buffer.highWatermark', '0.5'])).stdout).config.buffer).toEqual({
      capacity: 20_000,
      highWatermark: 0.5,
    });
    const tier = await esh3ar(['config', 'set', 'rateLimit.tiers.basic', '{"rpm": 50, "burst": 5}']);
    expect(JSON.parse(tier.stdout).config.rateLimit.tiers.basic).toEqual({ rpm: 50, burst: 5 });

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query('SELECT changed_by FROM runtime_config_versions WHERE version = 1').finally(() => client.end());
    expect(rows[0].changed_by).toBe(`cli:${userInfo().username}`);
  });

  it.each([
    [['buffer.capacity', '-1'], 'buffer.capacity must be >= 1'],
    [['buffer.capacity', 'lots'], 'buffer.capacity must be integer'],
    [['buffer.highWatermark', '0'], 'buffer.highWatermark must be > 0'],
    [['buffer.capacty', '10'], 'unknown key buffer.capacty'],
    [['gold', '{}'], 'unknown key gold'],
  ])('set %j is refused (exit 1) and stores nothing', async (args, message) => {
    const before = await versions();
    const r = await esh3ar(['config', 'set', ...args]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
    expect(await versions()).toBe(before);
  });

  it('history lists the versions newest first, down to 0', async () => {
    const r = await esh3ar(['config', 'history']);
    expect(r.code).toBe(0);
    const { items } = JSON.parse(r.stdout) as { items: { version: number; changedBy: string; changedAt: string; config: unknown }[] };
    expect(items.map((i) => i.version)).toEqual([3, 2, 1, 0]);
    expect(items.at(-1)).toEqual({ version: 0, changedAt: expect.any(String), changedBy: 'defaults', config: DEFAULT_RUNTIME_CONFIG });
    expect(JSON.parse((await esh3ar(['config', 'history', '--limit', '1'])).stdout).items).toHaveLength(1);
  });

  it('rollback VERSION stores that version again as the newest; 0 is the defaults; an unknown one exits 1', async () => {
    const back = await esh3ar(['config', 'rollback', '1']);
    expect(back.code).toBe(0);
    expect(JSON.parse(back.stdout)).toEqual({
      version: 4,
      config: { ...DEFAULT_RUNTIME_CONFIG, buffer: { capacity: 20_000, highWatermark: 0.8 } },
    });
    expect(JSON.parse((await esh3ar(['config', 'rollback', '0'])).stdout)).toEqual({ version: 5, config: DEFAULT_RUNTIME_CONFIG });
    expect(JSON.parse((await esh3ar(['config', 'get'])).stdout).version).toBe(5);
    const missing = await esh3ar(['config', 'rollback', '99']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no runtime configuration version 99');
  });

  it('get prints the document as dotted keys on a terminal', async () => {
    const r = await esh3arInProcess(
      ['config', 'get'],
      { DATABASE_URL: db.url, REDIS_URL: redisUrl, REDIS_PREFIX: prefix },
      { stdout: true },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^version +5\n/);
    expect(r.stdout).toMatch(new RegExp(`^buffer\\.capacity +${DEFAULT_RUNTIME_CONFIG.buffer.capacity}$`, 'm'));
    const history = await esh3arInProcess(['config', 'history', '--limit', '2'], { DATABASE_URL: db.url }, { stdout: true });
    expect(history.stdout.split('\n').slice(0, 3)).toEqual([
      expect.stringMatching(/^VERSION +CHANGED AT +CHANGED BY$/),
      expect.stringMatching(/^5 +\S+ +cli:/),
      expect.stringMatching(/^4 +\S+ +cli:/),
    ]);
  });

  it.each([
    [['config'], 'Usage: pnpm esh3ar config [options] [command]'],
    [['config', 'frobnicate'], "unknown command 'frobnicate'"],
    [['config', 'get', 'extra'], "too many arguments for 'get'"],
    [['config', 'set', 'buffer.capacity'], "missing required argument 'value'"],
    [['config', 'set', 'buffer..capacity', '5'], 'KEY must be a dotted path'],
    [['config', 'rollback', 'latest'], 'needs a VERSION'],
    [['config', 'history', '--limit', '0'], 'It must be an integer from 1 to 1000'],
  ])('exits 2 with usage for %j', async (args, message) => {
    const r = await esh3arInProcess(args, { DATABASE_URL: db.url });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('Usage: pnpm esh3ar config');
  });
});
