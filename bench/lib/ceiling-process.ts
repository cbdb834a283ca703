import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '@esh3ar/stack';

export interface BenchProcess {
  pid: number;
  /** The ready line's fields. */
  ready: Record<string, unknown>;
  stop(): Promise<void>;
}

export interface CeilingProcess extends BenchProcess {
  url: string;
}

const READY_TIMEOUT_MS = 20_000;

/**
 * Starts `script` (a file next to this one) as a process of its own, with `env` besides PATH
 * and HOME and `nodeFlags` before it, resolved once it prints a JSON line whose msg is `readyMsg`.
 */
export async function startBenchProcess(
  script: string,
  env: Record<string, string>,
  readyMsg: string,
  nodeFlags: readonly string[] = [],
): Promise<BenchProcess> {
  const child: ChildProcess = spawn(process.execPath, [...nodeFlags, fileURLToPath(new URL(script, import.meta.url))], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${script} was not ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      void exited.then(([code]) => reject(new Error(`${script} exited (${String(code)}) before it was ready`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed.msg === readyMsg) resolve(parsed);
      });
    });
    return { pid: child.pid!, ready, stop };
  } catch (error) {
    // Not ready: it must not run on beside what is measured next.
    await stop();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts ceiling-server.ts (the bare route), or floor-server.ts with `env` naming its Redis
 * and prefix (and the api's node flags), resolved once it listens.
 */
export async function startCeiling(
  script = 'ceiling-server.ts',
  env: Record<string, string> = {},
  nodeFlags: readonly string[] = [],
): Promise<CeilingProcess> {
  const started = await startBenchProcess(script, { PORT: '0', ...env }, 'ceiling listening', nodeFlags);
  if (typeof started.ready.port !== 'number') {
    await started.stop();
    throw new Error(`${script} named no port`);
  }
  return { ...started, url: `http://127.0.0.1:${started.ready.port}` };
}

export interface FloorProcesses {
  server: CeilingProcess;
  worker: BenchProcess;
  stop(): Promise<void>;
}

/**
 * Starts the shape's floor, floor-server.ts and floor-worker.ts, with `env` naming their
 * Redis, prefix and database (FLOOR_REDIS_URL, FLOOR_PREFIX, FLOOR_DATABASE_URL) and each
 * with its node flags; if either fails to start, stops the other before throwing.
 */
export async function startFloor(
  env: Record<string, string>,
  nodeFlags: { server: readonly string[]; worker: readonly string[] } = { server: [], worker: [] },
): Promise<FloorProcesses> {
  const [server, worker] = await Promise.allSettled([
    startCeiling('floor-server.ts', env, nodeFlags.server),
    startBenchProcess('floor-worker.ts', env, 'floor worker ready', nodeFlags.worker),
  ]);
  if (server.status === 'rejected' || worker.status === 'rejected') {
    for (const started of [server, worker]) if (started.status === 'fulfilled') await started.value.stop();
    throw server.status === 'rejected' ? server.reason : (worker as PromiseRejectedResult).reason;
  }
  return {
    server: server.value,
    worker: worker.value,
    async stop() {
      await Promise.all([server.value.stop(), worker.value.stop()]);
    },
  };
}
