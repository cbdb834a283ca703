/**
 * How long a runtime-configuration change takes to be in force everywhere: from the
 * moment PUT /v1/admin/config is sent to the moment the last of 2 api and 2 worker
 * processes logs that it applied the new version (pino's own timestamp). Measured
 * twice: as deployed (Redis notification, then a PostgreSQL read), and with the
 * notification lost (a version stored straight into PostgreSQL: the 1 s poll alone).
 * Not part of `pnpm test` or `pnpm bench`:
 *
 *   node bench/runtime-config/propagation.ts
 *
 * PROPAGATION_ROUNDS (20) per mode.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendRuntimeConfig } from '../../packages/runtime/src/index.ts';
import { REPO_ROOT, send, startApp, startStack, type AppProcess, type Stack } from '@esh3ar/stack';

const rounds = Number(process.env.PROPAGATION_ROUNDS ?? 20);
if (!Number.isInteger(rounds) || rounds < 1)
  throw new Error(`PROPAGATION_ROUNDS must be a whole number ≥ 1, got ${process.env.PROPAGATION_ROUNDS}`);
const ADMIN_TOKEN = `adm_${randomBytes(24).toString('base64url')}`;
const log = (text: string) => process.stderr.write(`config-propagation: ${text}\n`);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function appliedAt(app: AppProcess, version: number): Promise<number> {
  const line = await app.waitForLog((l) => l.msg === 'runtime configuration applied' && l.version === version, 10_000);
  return Date.parse(String(line.time));
}

/** ms from `started` until every process applied `version`: the slowest process. */
async function everywhere(processes: AppProcess[], version: number, started: number): Promise<number> {
  const times = await Promise.all(processes.map((p) => appliedAt(p, version)));
  return Math.max(...times) - started;
}

function summary(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p90: percentile(sorted, 90), max: sorted.at(-1)! };
}

execFileSync('bash', ['scripts/services.sh'], { cwd: REPO_ROOT, stdio: 'inherit' });
let stack: Stack | undefined;
let secondApi: AppProcess | undefined;
try {
  stack = await startStack('config-propagation', { workers: 2, env: { ADMIN_TOKEN } });
  secondApi = await startApp('api', stack.env);
  const processes = [stack.api!, secondApi, ...stack.workers];
  const notified: number[] = [];
  const polled: number[] = [];

  for (let i = 1; i <= rounds; i++) {
    const started = Date.now();
    const r = await send(stack.api!.url, ADMIN_TOKEN, 'PUT', '/v1/admin/config', { buffer: { capacity: 50_000 + i } });
    if (r.status !== 200) throw new Error(`PUT answered ${r.status}: ${JSON.stringify(r.body)}`);
    notified.push(await everywhere(processes, (r.body as { version: number }).version, started));
  }
  log(`notified: ${JSON.stringify(summary(notified))}`);

  for (let i = 1; i <= rounds; i++) {
    // Spread over the poll phase: a change lands anywhere within a process's 1 s cycle.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 1000));
    const started = Date.now();
    const stored = await appendRuntimeConfig(stack.pool, 'bench', ({ latest }) => ({
      ...latest.config,
      buffer: { capacity: 60_000 + i, highWatermark: 0.8 },
    }));
    polled.push(await everywhere(processes, stored.version, started));
  }
  log(`poll only: ${JSON.stringify(summary(polled))}`);

  process.stdout.write(
    `${JSON.stringify({ processes: processes.length, rounds, msUntilAllApplied: { notified: summary(notified), notificationLost: summary(polled) } }, null, 2)}\n`,
  );
} finally {
  await secondApi?.stop('SIGTERM');
  await stack?.close();
}
