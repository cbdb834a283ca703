import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '@esh3ar/stack';

export interface CeilingProcess {
  pid: number;
  url: string;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 20_000;

/** Starts ceiling-server.ts (next to this file) as a process of its own, resolved once it listens. */
export async function startCeiling(): Promise<CeilingProcess> {
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(new URL('ceiling-server.ts', import.meta.url))], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ceiling server did not listen within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    void exited.then(([code]) => reject(new Error(`the ceiling server exited (${String(code)}) before listening`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const parsed = JSON.parse(line) as { msg?: string; port?: number };
      if (parsed.msg === 'ceiling listening' && typeof parsed.port === 'number') {
        clearTimeout(timer);
        resolve(parsed.port);
      }
    });
  });
  return {
    pid: child.pid!,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
