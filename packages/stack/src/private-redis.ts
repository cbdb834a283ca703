import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';

export interface PrivateRedis {
  url: string;
  port: number;
  /** SIGKILL: no shutdown save, no goodbye to clients; what AOF fsynced is all that survives. */
  kill(): Promise<void>;
  /** Starts redis-server again on the same port and data folder (it replays the AOF). */
  start(): Promise<void>;
  destroy(): Promise<void>;
}

async function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('error', () => resolve(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
  });
}

export interface PrivateRedisOptions {
  /**
   * redis-server arguments after the production ones, which they override (a later
   * setting wins): `['--appendonly', 'no']` for a Redis the processes must refuse.
   */
  args?: readonly string[];
}

/**
 * A redis-server of its own (temporary data folder, its own port), configured as
 * production runs it (AOF, `appendfsync always`, `noeviction`), for tests that kill
 * Redis: killing it disturbs no other test.
 */
export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'esh3ar-redis-'));
  let child: ChildProcess | undefined;
  const redis: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir,
          '--appendonly',
          'yes',
          '--appendfsync',
          'always',
          '--save',
          '',
          '--maxmemory-policy',
          'noeviction',
          ...(options.args ?? []),
        ],
        { stdio: 'ignore' },
      );
      const exited = once(child, 'exit');
      // Ready once it answers PING (it loads the AOF before it does); give up if it exits.
      for (let i = 0; i < 200; i++) {
        if (await answersPing(port)) return;
        const gone = await Promise.race([exited.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 50))]);
        if (gone) throw new Error(`redis-server on port ${port} exited at start-up`);
      }
      throw new Error(`redis-server on port ${port} did not answer within 10 s`);
    },
    async kill() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
    async destroy() {
      await redis.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await redis.start();
  return redis;
}
