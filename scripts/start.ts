/**
 * `pnpm start`: the local stack. Makes PostgreSQL and Redis reachable
 * (scripts/services.sh), applies migrations, starts the api, WORKERS worker
 * processes (default 2), the gateway and provider-sim (unless PROVIDER_BASE_URL names
 * real providers) with this shell's environment, prints the
 * URLs, and stops every child gracefully on Ctrl-C / SIGTERM.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { startApp, type AppProcess } from '@esh3ar/stack';

const run = promisify(execFile);

const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
const workers = Number(env.WORKERS ?? 2);

// The gateway needs DEVICE_TOKEN_SECRET. Locally, one is made once and kept in
// .data/ (git-ignored), so tokens minted with it stay valid across restarts.
if (!env.DEVICE_TOKEN_SECRET) {
  const file = '.data/device-token-secret';
  if (!existsSync(file)) {
    mkdirSync('.data', { recursive: true });
    writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600 });
  }
  env.DEVICE_TOKEN_SECRET = readFileSync(file, 'utf8').trim();
}
const opsPort = Number(env.OPS_PORT ?? 9400);

const children: AppProcess[] = [];
let stopping = false;

async function startAll(): Promise<void> {
  const services = await run('bash', ['scripts/services.sh'], { env });
  process.stderr.write(services.stderr);
  await run(process.execPath, ['apps/cli/src/main.ts', 'migrate'], { env });
  if (stopping) return;
  // The local stand-in for the SMS / WhatsApp / email providers, unless real ones are configured.
  let providerSim: AppProcess | undefined;
  if (!process.env.PROVIDER_BASE_URL) {
    providerSim = await startApp('provider-sim', env, { echo: true });
    children.push(providerSim);
    env.PROVIDER_BASE_URL = providerSim.url;
  }
  const api = await startApp('api', env, { echo: true });
  children.push(api);
  for (let i = 0; i < workers && !stopping; i++) {
    children.push(await startApp('worker', { ...env, OPS_PORT: String(opsPort === 0 ? 0 : opsPort + i) }, { echo: true }));
  }
  if (stopping) return;
  const gateway = await startApp('gateway', env, { echo: true });
  children.push(gateway);
  const lines = [
    '',
    'Esh3ar is running:',
    `  api            ${api.url}  (POST /v1/messages, /health/ready, /metrics)`,
    ...children.filter((c) => c.name === 'worker').map((w, i) => `  worker ${i + 1}       ${w.url}  (/health/ready, /metrics)`),
    `  gateway        ws://127.0.0.1:${gateway.port}/v1/stream  (${gateway.url}/health/ready, /metrics)`,
    ...(providerSim ? [`  provider-sim   ${providerSim.url}  (PUT /control, GET /received)`] : []),
    '',
    'Create a sender: pnpm esh3ar tenant create --name demo --tier premium',
    `A device token:  DEVICE_TOKEN_SECRET=$(cat .data/device-token-secret) pnpm esh3ar token mint --phone +966501234567`,
    'Stop: Ctrl-C',
    '',
  ];
  process.stderr.write(lines.join('\n'));
}

const startup = startAll();

async function stopAll(reason: string, code: number): Promise<never> {
  stopping = true;
  process.stderr.write(`\nesh3ar: ${reason}: stopping gracefully\n`);
  await startup.catch(() => undefined); // a start-up failure is reported below; stop what did start
  const results = await Promise.all(children.map((c) => c.stop('SIGTERM')));
  process.exit(results.every((r) => r.code === 0) ? code : 1);
}
process.once('SIGINT', () => void stopAll('SIGINT', 0));
process.once('SIGTERM', () => void stopAll('SIGTERM', 0));

try {
  await startup;
  // A child that dies on its own takes the stack down: nothing runs half-started.
  for (const child of children) {
    child.child.once('exit', (code, signal) => {
      if (!stopping) void stopAll(`${child.name} exited (${code ?? signal})`, 1);
    });
  }
} catch (error) {
  process.stderr.write(`esh3ar: could not start: ${(error as Error).message}\n`);
  await stopAll('start-up failure', 1);
}
