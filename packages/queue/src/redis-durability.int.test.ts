import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedis } from './redis.ts';
import { guardRedisDurability, readRedisDurability, VolatileRedisError } from './redis-durability.ts';

/*
 * Real redis-servers of this file's own, each on a Unix socket in a temporary folder
 * (no port to find), started with the settings under test. @esh3ar/stack's
 * startPrivateRedis cannot be used here: the stack kit depends on this package.
 */
const PRODUCTION = ['--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction'];
const started: { child: ChildProcess; dir: string }[] = [];
const clients: Redis[] = [];

function socketOf(dir: string): string {
  return join(dir, 'redis.sock');
}

/** Starts redis-server with `args` and resolves once it accepts connections. */
async function startRedis(args: readonly string[], dir = mkdtempSync(join(tmpdir(), 'esh3ar-durability-'))): Promise<string> {
  const child = spawn('redis-server', ['--port', '0', '--unixsocket', socketOf(dir), '--dir', dir, '--save', '', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  started.push({ child, dir });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => /ready to accept connections/i.test(chunk.toString()) && resolve());
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) at start-up`)));
  });
  return dir;
}

function client(dir: string): Redis {
  const redis = new Redis({ path: socketOf(dir) });
  clients.push(redis);
  return redis;
}

/** A pino logger whose lines the test reads. */
function memoryLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) }),
  );
  return { logger, lines };
}

afterEach(async () => {
  for (const redis of clients.splice(0)) redis.disconnect();
  for (const { child, dir } of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('readRedisDurability', () => {
  it('finds nothing wrong with Redis as production runs it (AOF, noeviction), read with CONFIG GET', async () => {
    const report = await readRedisDurability(client(await startRedis(PRODUCTION)));
    expect(report).toEqual({ source: 'CONFIG GET', problems: [] });
  });

  it('names appendonly when the append-only file is off (Redis’s default)', async () => {
    const report = await readRedisDurability(client(await startRedis(['--appendonly', 'no', '--maxmemory-policy', 'noeviction'])));
    expect(report.problems).toEqual([{ setting: 'appendonly', found: 'no', wanted: 'yes' }]);
    expect(new VolatileRedisError(report).message).toMatch(
      /^Redis can lose messages answered 202: appendonly is no \(read with CONFIG GET\)\. Set appendonly yes in redis\.conf.*ALLOW_VOLATILE_BUFFER=on/,
    );
  });

  it('names maxmemory-policy when Redis may evict buffered jobs', async () => {
    const report = await readRedisDurability(client(await startRedis(['--appendonly', 'yes', '--maxmemory-policy', 'allkeys-lru'])));
    expect(report.problems).toEqual([{ setting: 'maxmemory-policy', found: 'allkeys-lru', wanted: 'noeviction' }]);
  });

  it('falls back to INFO where CONFIG is renamed away, and says so', async () => {
    const volatile = await readRedisDurability(
      client(await startRedis(['--appendonly', 'no', '--maxmemory-policy', 'volatile-lru', '--rename-command', 'CONFIG', '""'])),
    );
    expect(volatile.source).toBe('INFO');
    expect(volatile.configRefused).toMatch(/unknown command/i);
    expect(volatile.problems).toEqual([
      { setting: 'appendonly', found: 'no', wanted: 'yes' },
      { setting: 'maxmemory-policy', found: 'volatile-lru', wanted: 'noeviction' },
    ]);
    const durable = await readRedisDurability(client(await startRedis([...PRODUCTION, '--rename-command', 'CONFIG', '""'])));
    expect(durable).toMatchObject({ source: 'INFO', problems: [] });
  });
});

describe('guardRedisDurability', () => {
  it('refuses a volatile Redis that becomes reachable only after the process started, with a fatal line naming the setting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'esh3ar-durability-'));
    // As the api opens its connection: before Redis answers, reconnecting until it does.
    // ioredis takes a Unix socket's path where a URL would be.
    const redis = createRedis(socketOf(dir), { name: 'esh3ar-test-durability', failFast: true });
    clients.push(redis);
    redis.on('error', () => undefined); // refused until the server below starts
    const { logger, lines } = memoryLogger();
    const refused = new Promise<VolatileRedisError>((resolve) =>
      guardRedisDurability(redis, { allowVolatile: false, logger, onRefused: resolve }),
    );
    redis.connect().catch(() => undefined); // retried by its retryStrategy
    await startRedis(['--appendonly', 'no', '--maxmemory-policy', 'noeviction'], dir);
    const error = await refused;
    expect(error.code).toBe('VOLATILE_REDIS');
    expect(lines.find((l) => l.level === 60)).toMatchObject({ code: 'VOLATILE_REDIS', msg: expect.stringContaining('appendonly is no') });
  });

  it('with ALLOW_VOLATILE_BUFFER=on runs anyway, logging a warning at start and an error at each check', async () => {
    const redis = client(await startRedis(['--appendonly', 'no']));
    await once(redis, 'ready');
    const { logger, lines } = memoryLogger();
    const checked = new Promise((resolve) =>
      guardRedisDurability(redis, {
        allowVolatile: true,
        logger,
        onRefused: () => expect.unreachable('refused while allowed'),
        onChecked: resolve,
      }),
    );
    await checked;
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [40, expect.stringContaining('ALLOW_VOLATILE_BUFFER=on: this process runs even on a Redis that can lose accepted messages')],
      [50, expect.stringMatching(/^ALLOW_VOLATILE_BUFFER=on, so running anyway: Redis can lose messages answered 202: appendonly is no/)],
    ]);
  });
});
