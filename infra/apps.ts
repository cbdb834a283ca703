import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as api from '../apps/api/src/config.ts';
import * as cli from '../apps/cli/src/config.ts';
import * as gateway from '../apps/gateway/src/config.ts';
import * as providerSim from '../apps/provider-sim/src/config.ts';
import * as worker from '../apps/worker/src/config.ts';
import type { Env } from '../packages/config/src/index.ts';

// What the infra files are checked against: the apps themselves. Their config parsers
// are run, not read, so the facts below hold however the sources are written.

export const ROOT = resolve(import.meta.dirname, '..');
export const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

const PARSERS = {
  api: api.parseConfig,
  worker: worker.parseConfig,
  gateway: gateway.parseConfig,
  'provider-sim': providerSim.parseConfig,
  cli: cli.parseConfig,
};
export type App = keyof typeof PARSERS;
/** Every app with a config parser: what docs/configuration.md lists (scripts/config-reference.ts). */
export const APPS = Object.keys(PARSERS) as App[];

/** The least environment each app starts with: the gateway refuses to start without a device token secret. */
const REQUIRED_ENV: Record<App, Env> = {
  api: {},
  worker: {},
  gateway: { DEVICE_TOKEN_SECRET: 'x'.repeat(gateway.DEVICE_TOKEN_SECRET_MIN_CHARS) },
  'provider-sim': {},
  cli: {},
};

function isApp(app: string): app is App {
  return Object.hasOwn(PARSERS, app);
}

/**
 * The environment variables a parser reads when given `env`: it is handed an environment
 * that records every name looked up. One that lists the environment's names instead could
 * read any of them, so that is refused rather than answered with a list that may be short.
 */
export function variablesRead(parse: (env: Env) => unknown, env: Env = {}): string[] {
  const names = new Set<string>();
  const recording = new Proxy<Env>(
    { ...env },
    {
      get(target, name) {
        if (typeof name === 'string') names.add(name);
        return Reflect.get(target, name) as string | undefined;
      },
      has(target, name) {
        if (typeof name === 'string') names.add(name);
        return Reflect.has(target, name);
      },
      ownKeys() {
        throw new Error('the parser lists the environment: which variables it reads cannot be told');
      },
    },
  );
  parse(recording);
  return [...names];
}

/**
 * Every variable an app reads at start-up (its config.ts, with the shared and runtime
 * settings it takes), given `env` besides the variables it requires: a variable read only
 * on some paths (a provider's settings) is read when `env` takes that path.
 */
export function appEnvRead(app: string, env: Env = {}): string[] {
  if (!isApp(app)) throw new Error(`apps/${app} has no config parser known to infra/apps.ts`);
  return variablesRead(PARSERS[app], { ...REQUIRED_ENV[app], ...env });
}

/** An app's configuration as it parses `env` (the variables it requires filled in). */
export function configOf<A extends App>(app: A, env: Env = {}): ReturnType<(typeof PARSERS)[A]> {
  return PARSERS[app]({ ...REQUIRED_ENV[app], ...env }) as ReturnType<(typeof PARSERS)[A]>;
}

/** How long an app's SIGTERM handler may take (close-with-grace's delay), in ms. */
export const GRACE_MS: Record<string, number> = {
  api: api.SHUTDOWN_GRACE_MS,
  worker: worker.SHUTDOWN_GRACE_MS,
  gateway: gateway.SHUTDOWN_GRACE_MS,
  'provider-sim': providerSim.SHUTDOWN_GRACE_MS,
};

/** The port variable each long-running app listens on, and its /health/ready port. */
export const PORT_VARS: Record<string, string> = {
  api: 'API_PORT',
  worker: 'OPS_PORT',
  gateway: 'GATEWAY_PORT',
  'provider-sim': 'PROVIDER_SIM_PORT',
};

/** The listen backlog variable of each app that accepts client connections. */
export const BACKLOG_VARS = { api: 'API_LISTEN_BACKLOG', gateway: 'GATEWAY_LISTEN_BACKLOG' } as const;

/** The backlog an app listens with when its backlog variable is `value` (unset: its default). */
export function listenBacklog(app: string, value: string | undefined): number {
  if (app !== 'api' && app !== 'gateway') throw new Error(`apps/${app} has no listen backlog`);
  return configOf(app, { [BACKLOG_VARS[app]]: value }).http.backlog;
}

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
