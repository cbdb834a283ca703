import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export type AppName = 'api' | 'worker' | 'gateway' | 'provider-sim';

/** The log line each app writes when it is ready, and the field that holds its port. */
const READY: Record<AppName, { msg: string; portField: string }> = {
  api: { msg: 'api listening', portField: 'port' },
  worker: { msg: 'worker started', portField: 'opsPort' },
  gateway: { msg: 'gateway listening', portField: 'port' },
  'provider-sim': { msg: 'provider-sim listening', portField: 'port' },
};

/**
 * Node flags each app runs with, as in infra/ (docker-compose.yml, k8s/*.yaml) and the
 * app's own start script. V8 lets semi-spaces grow to 64 MiB here. The gateway's stay
 * at 16 MiB: 10,000 devices connecting took its new space from 32 to 128 MiB, ~9.8 KiB
 * of RSS per connection (18.5 → 9.8 KiB, bench/gateway/memory.ts). The api's too: over
 * 4 alternating rounds of bench/ingest/api-flags.ts, 16 peaked at 327 MiB through a
 * 10,000-connection burst against 384 MiB at 32, for the same CPU per request (0.089
 * against 0.092 s/1000); 8 spent 0.115 s/1000, its GC pauses 19% of it. And the api
 * runs without V8's allocation-site pretenuring: in 3 of 8 traced api processes at 5,000
 * req/s (bench/ingest/gc-trace.ts), V8 moved the allocation sites of requests to the old generation, where each
 * answered request stayed until a full collection and kept what it referenced alive
 * through the scavenges: scavenge pauses up to 13.7 µs per request against 4.2–6.4. Without it, median
 * CPU per request 0.072 against 0.084 s/1000 in 6 alternating rounds (docs/benchmarks.md).
 */
export const NODE_FLAGS: Record<AppName, readonly string[]> = {
  api: ['--max-semi-space-size=16', '--no-allocation-site-pretenuring'],
  worker: [],
  gateway: ['--max-semi-space-size=16'],
  'provider-sim': [],
};

export interface AppProcess {
  name: AppName;
  child: ChildProcess;
  pid: number;
  /** The HTTP port: the api's, or the worker's OPS_PORT. */
  port: number;
  url: string;
  /** Parsed pino lines so far (last 2000). */
  logs: Record<string, unknown>[];
  /** Resolves when a log line matching `predicate` appears (or has appeared). */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM (graceful) or SIGKILL; resolves with the exit code or signal. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts one Esh3ar app as a real child process (`node apps/<name>/src/main.ts`) and
 * resolves once it logs that it is ready, with the port it got (pass port 0).
 */
export interface StartOptions {
  timeoutMs?: number;
  /** Copy the app's output to this process's stdout/stderr (the dev stack). */
  echo?: boolean;
  /** Node flags instead of NODE_FLAGS[name] (bench/ingest/api-flags.ts compares them). */
  nodeFlags?: readonly string[];
  /** The log line that says "started" instead of the app's ready line (a worker still waiting for PostgreSQL logs 'ops server listening'). */
  readyMsg?: string;
  /** Another checkout to run the app from (bench/ingest/cost.ts compares revisions); default: this one. */
  root?: string;
}

/**
 * Defaults for a test's process: provider-sim's SMTP server on a free port, as its HTTP
 * port is (tests pass PROVIDER_SIM_PORT 0): on its default 2525, the second sim started
 * by concurrent test files could not listen and exited.
 */
const APP_ENV: Record<AppName, Record<string, string>> = {
  api: {},
  worker: {},
  gateway: {},
  'provider-sim': { PROVIDER_SIM_SMTP_PORT: '0' },
};

export async function startApp(name: AppName, env: Record<string, string>, options: StartOptions = {}): Promise<AppProcess> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const child = spawn(process.execPath, [...(options.nodeFlags ?? NODE_FLAGS[name]), `apps/${name}/src/main.ts`], {
    cwd: options.root ?? REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', LOG_LEVEL: 'info', ...APP_ENV[name], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const watchers = new Set<{ predicate: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }>();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
    if (options.echo) process.stderr.write(chunk);
  });
  createInterface({ input: child.stdout }).on('line', (text) => {
    if (options.echo) process.stdout.write(`${text}\n`);
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { msg: text };
    }
    logs.push(line);
    if (logs.length > 2000) logs.shift();
    for (const w of watchers) {
      if (w.predicate(line)) {
        watchers.delete(w);
        w.resolve(line);
      }
    }
  });
  // 'close': the process has exited and its output is all read.
  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;

  function waitForLog(predicate: (line: Record<string, unknown>) => boolean, waitMs = timeoutMs) {
    const seen = logs.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const watcher = { predicate, resolve: (l: Record<string, unknown>) => (clearTimeout(timer), resolve(l)) };
      const timer = setTimeout(() => {
        watchers.delete(watcher);
        reject(new Error(`${name}: no matching log line within ${waitMs} ms; stderr: ${stderr}`));
      }, waitMs);
      watchers.add(watcher);
      void exited.then(([code, signal]) => {
        if (watchers.delete(watcher)) {
          clearTimeout(timer);
          reject(new Error(`${name} exited (${code ?? signal}) before the expected log line; stderr: ${stderr}`));
        }
      });
    });
  }

  let ready: Record<string, unknown>;
  try {
    ready = await waitForLog((l) => l.msg === (options.readyMsg ?? READY[name].msg));
  } catch (error) {
    // Never ready (or never said so): do not leave it running behind the failure.
    child.kill('SIGKILL');
    throw error;
  }
  const port = Number(ready[READY[name].portField]);
  return {
    name,
    child,
    pid: child.pid!,
    port,
    url: `http://127.0.0.1:${port}`,
    logs,
    waitForLog,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code, sig] = await exited;
      return { code, signal: sig };
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const execCli = promisify(execFile);

/**
 * Runs the CLI (`node apps/cli/src/main.ts ...args`) to its end with this process's
 * environment plus `env`; a non-zero exit is a result, not an error.
 */
export async function runCli(args: readonly string[], env: Record<string, string>): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execCli(process.execPath, ['apps/cli/src/main.ts', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as CliResult;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
