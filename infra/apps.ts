import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

// What the infra files are checked against: the apps' own sources (config.ts, main.ts).

export const ROOT = resolve(import.meta.dirname, '..');
export const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** The environment variables a config module reads: `readX(env, 'NAME', ...)`. */
export function envRead(path: string): string[] {
  return [...read(path).matchAll(/\bread\w*\(\s*env,\s*'([A-Z][A-Z0-9_]*)'/g)].map((m) => m[1]!);
}

/**
 * Every variable an app reads: its config.ts; the common settings (all of them when it
 * passes its whole env to parseCommonConfig, else only those it hands over, as
 * provider-sim does); and the runtime ones if it calls runtimeConfigFromEnv.
 */
export function appEnvRead(app: string): string[] {
  const config = `apps/${app}/src/config.ts`;
  const source = read(config);
  const common = /\bparseCommonConfig\(\s*env\s*\)/.test(source)
    ? envRead('packages/config/src/common.ts')
    : [...(/\bparseCommonConfig\(\s*\{([^}]*)\}/.exec(source)?.[1] ?? '').matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!);
  const runtime = /\bruntimeConfigFromEnv\(/.test(source) ? envRead('packages/config/src/runtime-env.ts') : [];
  return [...common, ...runtime, ...envRead(config)];
}

/** The default an app's config.ts gives a variable: `readX(env, 'NAME', 16_384, ...)`. */
export function envDefault(app: string, name: string): number {
  const value = new RegExp(`'${name}',\\s*([\\d_]+)`).exec(read(`apps/${app}/src/config.ts`))?.[1];
  return Number(value?.replaceAll('_', ''));
}

/** How long an app's SIGTERM handler may take: `closeWithGrace({ delay: 20_000 }`, in ms. */
export function graceDelayMs(app: string): number {
  return Number(/closeWithGrace\(\{\s*delay:\s*([\d_]+)/.exec(read(`apps/${app}/src/main.ts`))![1]!.replaceAll('_', ''));
}

/** The port variable each long-running app listens on, and its /health/ready port. */
export const PORT_VARS: Record<string, string> = {
  api: 'API_PORT',
  worker: 'OPS_PORT',
  gateway: 'GATEWAY_PORT',
  'provider-sim': 'PROVIDER_SIM_PORT',
};
/** The listen backlog variable of each app that accepts client connections. */
export const BACKLOG_VARS: Record<string, string> = { api: 'API_LISTEN_BACKLOG', gateway: 'GATEWAY_LISTEN_BACKLOG' };

/** The node flags before the app's entry point in a command ("node --x=1 apps/api/src/main.ts" → ["--x=1"]). */
export function nodeFlagsOf(command: string): string[] {
  const words = command.trim().split(/\s+/);
  const entry = words.findIndex((w) => /\bapps\/[\w-]+\/src\/main\.ts$/.test(w));
  return words.slice(words.indexOf('node') + 1, entry).filter((w) => w.startsWith('--'));
}

/** The app a command starts (`node apps/<app>/src/main.ts …`), if any. */
export function appOf(command: string): string | undefined {
  return /\bapps\/([\w-]+)\/src\/main\.ts\b/.exec(command)?.[1];
}
