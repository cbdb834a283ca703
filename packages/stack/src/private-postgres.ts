import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { freePort } from './free-port.ts';
import { join } from 'node:path';

export interface PrivatePostgres {
  url: string;
  port: number;
  /** A clean shutdown (`-m fast`): clients are told, transactions rolled back. */
  stop(): void;
  /** A crash (`-m immediate`): every backend dies at once, as on a power cut or an OOM kill; the next start recovers from the WAL. */
  crash(): void;
  start(): void;
  destroy(): void;
}

function binDir(): string {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');
  return `/usr/lib/postgresql/${versions[0]}/bin`;
}

/**
 * A PostgreSQL server of its own (initdb into a temporary folder, its own port), for
 * tests that stop the database: stopping it disturbs no other test. As root the
 * server runs as the `postgres` user, which initdb requires.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = binDir();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'esh3ar-pg-'));
  const asRoot = process.getuid?.() === 0;
  const run = (tool: string, args: string[]) =>
    execFileSync(asRoot ? 'runuser' : `${bin}/${tool}`, asRoot ? ['-u', 'postgres', '--', `${bin}/${tool}`, ...args] : args, {
      stdio: 'pipe',
    });
  if (asRoot)
    chownSync(
      dir,
      Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
      Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
    );
  const user = userInfo().username;
  run('initdb', ['-D', join(dir, 'data'), '-A', 'trust', '-U', user, '--no-sync']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
  const pg: PrivatePostgres = {
    url: `postgres://${user}@127.0.0.1:${port}/postgres`,
    port,
    start: () => run('pg_ctl', ['-D', join(dir, 'data'), '-o', options, '-l', join(dir, 'log'), '-w', 'start']),
    stop: () => run('pg_ctl', ['-D', join(dir, 'data'), '-m', 'fast', '-w', 'stop']),
    crash: () => run('pg_ctl', ['-D', join(dir, 'data'), '-m', 'immediate', '-w', 'stop']),
    destroy: () => {
      try {
        pg.stop();
      } catch (error) {
        // Already stopped (or crashed: no PID file) is fine; anything else is worth seeing.
        const stderr = String((error as { stderr?: Buffer }).stderr ?? '');
        if (!stderr.includes('is not running') && !stderr.includes('Is server running?')) throw error;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  pg.start();
  return pg;
}
