import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { LIMITS } from '../packages/contracts/src/index.ts';

// No Docker engine runs in CI, so the infra files are checked by reading them
// against the apps they start: entry points, env vars, ports, versions.

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | null>;
  healthcheck?: { test: string | string[] };
  depends_on?: Record<string, { condition: string }>;
  sysctls?: Record<string, number | string>;
  ports?: string[];
  volumes?: string[];
  stop_grace_period?: string;
}

const ROOT = resolve(import.meta.dirname, '..');
const INFRA = import.meta.dirname;
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const words = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(' ') : (value ?? ''));

// `merge: true`: compose honours YAML merge keys (`<<: *app`); YAML 1.2 parsers don't by default.
const services = (parse(read('infra/docker-compose.yml'), { merge: true }) as { services: Record<string, Service> }).services;
const dockerfile = read('infra/Dockerfile');
const nginx = read('infra/nginx/nginx.conf');

/** Services that run one of our apps, with the app directory their command starts. */
const appServices = Object.entries(services).flatMap(([name, service]) => {
  const app = /\bapps\/([\w-]+)\/src\/main\.ts\b/.exec(words(service.entrypoint) + ' ' + words(service.command))?.[1];
  return app === undefined ? [] : [{ name, app, service }];
});
const appService = (name: string) => appServices.find((s) => s.name === name)!;

/** The environment variables a config module reads: `readX(env, 'NAME', ...)`. */
function envRead(path: string): string[] {
  return [...read(path).matchAll(/\bread\w*\(\s*env,\s*'([A-Z][A-Z0-9_]*)'/g)].map((m) => m[1]!);
}

/** The port variable each long-running app listens on, and its /health/ready port. */
const PORT_VARS: Record<string, string> = { api: 'API_PORT', worker: 'OPS_PORT' };

function seconds(duration: string | undefined): number {
  if (duration === undefined) return 10; // Docker's default stop timeout
  const match = /^(\d+)(ms|s|m)$/.exec(duration);
  if (!match) return Number.NaN;
  return Number(match[1]) * { ms: 0.001, s: 1, m: 60 }[match[2] as 'ms' | 's' | 'm'];
}

describe('docker-compose.yml', () => {
  it('builds every image from a Dockerfile that exists', () => {
    const built = Object.values(services).filter((s) => s.build !== undefined);
    expect(built.length).toBeGreaterThan(0);
    for (const { build } of built) {
      const { context = '.', dockerfile: file = 'Dockerfile' } = typeof build === 'string' ? { context: build } : build!;
      expect(existsSync(join(INFRA, context, file)), `${context}/${file}`).toBe(true);
    }
  });

  it('starts every built service from an entry point that exists', () => {
    expect(appServices.map((s) => s.name)).toEqual(expect.arrayContaining(['api', 'migrate', 'worker']));
    for (const [name, service] of Object.entries(services).filter(([, s]) => s.build !== undefined)) {
      const files = `${words(service.entrypoint)} ${words(service.command)}`.split(/\s+/).filter((w) => /\.[cm]?[jt]s$/.test(w));
      expect(files, name).not.toEqual([]);
      for (const file of files) expect(existsSync(join(ROOT, file)), `${name}: ${file}`).toBe(true);
    }
  });

  it('sets only environment variables the app reads', () => {
    const common = envRead('packages/config/src/common.ts');
    expect(common).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'REDIS_PREFIX', 'HOST']));
    for (const { name, app, service } of appServices) {
      const known = new Set(['NODE_ENV', ...common, ...envRead(`apps/${app}/src/config.ts`)]);
      const unknown = Object.keys(service.environment ?? {}).filter((key) => !known.has(key));
      expect(unknown, `${name} sets variables apps/${app} never reads`).toEqual([]);
    }
  });

  it('migrates once, before any app starts', () => {
    expect(words(appService('migrate').service.command)).toMatch(/apps\/cli\/src\/main\.ts migrate$/);
    expect(appService('migrate').service.depends_on?.postgres?.condition).toBe('service_healthy');
    for (const { name, service } of appServices.filter((s) => s.name !== 'migrate')) {
      expect(service.depends_on, name).toMatchObject({
        postgres: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
        migrate: { condition: 'service_completed_successfully' },
      });
    }
  });

  it('probes /health/ready on the port each app listens on, reachable from other containers', () => {
    for (const [name, portVar] of Object.entries(PORT_VARS)) {
      const { environment = {}, healthcheck } = appService(name).service;
      expect(environment.HOST, name).toBe('0.0.0.0');
      expect(environment[portVar], `${name} ${portVar}`).toMatch(/^\d+$/);
      expect(words(healthcheck?.test), name).toContain(`127.0.0.1:${environment[portVar]}/health/ready`);
    }
  });

  it('lets the kernel queue as many connections as the api and nginx ask for', () => {
    const apiDefault = /'API_LISTEN_BACKLOG',\s*([\d_]+)/.exec(read('apps/api/src/config.ts'))![1]!.replaceAll('_', '');
    const api = appService('api').service;
    const apiBacklog = Number(api.environment?.API_LISTEN_BACKLOG ?? apiDefault);
    expect(Number(api.sysctls?.['net.core.somaxconn'])).toBeGreaterThanOrEqual(apiBacklog);
    const nginxBacklog = Number(/listen\s+\d+[^;]*\bbacklog=(\d+)/.exec(nginx)?.[1]);
    expect(Number(services.nginx?.sysctls?.['net.core.somaxconn'])).toBeGreaterThanOrEqual(nginxBacklog);
  });

  it('gives each app the time it takes to drain before SIGKILL', () => {
    for (const { name, app, service } of appServices.filter((s) => s.name !== 'migrate')) {
      const delayMs = Number(/closeWithGrace\(\{\s*delay:\s*([\d_]+)/.exec(read(`apps/${app}/src/main.ts`))![1]!.replaceAll('_', ''));
      expect(seconds(service.stop_grace_period), name).toBeGreaterThan(delayMs / 1000);
    }
  });

  it('runs Redis durable: every write fsynced to the AOF, nothing evicted', () => {
    const command = words(services.redis?.command);
    expect(command).toMatch(/--appendonly yes\b/);
    expect(command).toMatch(/--appendfsync always\b/);
    expect(command).toMatch(/--maxmemory-policy noeviction\b/);
  });
});

describe('Dockerfile', () => {
  const stages = dockerfile.split(/^FROM\s+/m).slice(1);

  it('installs the pnpm version of package.json’s packageManager', () => {
    const wanted = (JSON.parse(read('package.json')) as { packageManager: string }).packageManager;
    expect(wanted).toMatch(/^pnpm@/);
    const installed = /\bpnpm@(\d+\.\d+\.\d+)/.exec(dockerfile)?.[1];
    expect(`pnpm@${installed}`).toBe(wanted);
  });

  it('builds every stage on Node 24', () => {
    expect(stages.length).toBeGreaterThan(1);
    for (const stage of stages) expect(stage.split(/\s/)[0]).toMatch(/^node:24(?:[.-]|$)/);
  });

  it('copies the manifest of every workspace package before installing', () => {
    const globs = (parse(read('pnpm-workspace.yaml')) as { packages: string[] }).packages;
    const manifests = globs
      .map((glob) => glob.replace(/\/\*$/, ''))
      .flatMap((dir) => readdirSync(join(ROOT, dir)).map((name) => `${dir}/${name}/package.json`))
      .filter((path) => existsSync(join(ROOT, path)));
    expect(manifests).toContain('apps/api/package.json');
    const install = dockerfile.indexOf('pnpm install');
    const sources = [...dockerfile.slice(0, install).matchAll(/^COPY\s+(?!--from)(.+)\s+\S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    const covers = (source: string, path: string) =>
      new RegExp(`^${source.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`).test(path);
    const missing = manifests.filter((path) => !sources.some((source) => covers(source, path)));
    expect(missing, 'add a COPY line for each').toEqual([]);
  });

  it('runs the final stage as a non-root user, in production mode', () => {
    const last = stages.at(-1)!;
    const user = [...last.matchAll(/^USER\s+(\S+)/gm)].at(-1)?.[1];
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(last).toMatch(/^ENV\s+NODE_ENV=production\b/m);
  });

  it('starts by default the app named by ARG APP, which exists', () => {
    const app = /^ARG\s+APP=(\S+)/m.exec(dockerfile)?.[1];
    expect(existsSync(join(ROOT, `apps/${app}/src/main.ts`)), `apps/${app}`).toBe(true);
    expect(/^CMD\s+(.+)$/m.exec(dockerfile)?.[1]).toContain('node apps/${APP}/src/main.ts');
  });
});

describe('nginx.conf', () => {
  const upstream = /upstream\s+(\w+)\s*\{([^}]*)\}/.exec(nginx);

  it('proxies to the api service on its API_PORT, through a keepalive upstream', () => {
    expect(upstream).not.toBeNull();
    const [, name, body] = upstream!;
    expect(body).toMatch(new RegExp(`\\bserver\\s+api:${appService('api').service.environment?.API_PORT}\\b`));
    expect(body).toMatch(/\bkeepalive\s+\d+;/);
    expect(nginx).toMatch(new RegExp(`proxy_pass\\s+http://${name};`));
    // Upstream keepalive needs HTTP/1.1 and an empty Connection header.
    expect(nginx).toMatch(/proxy_http_version\s+1\.1;/);
    expect(nginx).toMatch(/proxy_set_header\s+Connection\s+"";/);
  });

  it('re-resolves the api replicas, on an nginx that can (`resolve` is in stable 1.28)', () => {
    expect(upstream![2]).toMatch(/\bserver\s+\S+\s+resolve;/);
    expect(nginx).toMatch(/\bresolver\s+127\.0\.0\.11\b/);
    const [major = 0, minor = 0] = (/^nginx:(\d+)\.(\d+)/.exec(services.nginx?.image ?? '') ?? []).slice(1).map(Number);
    expect(major * 1000 + minor, services.nginx?.image).toBeGreaterThanOrEqual(1028);
  });

  it('is the file compose mounts, accepts a full batch body and listens on the published port', () => {
    const mount = services.nginx?.volumes?.find((v) => v.split(':')[1] === '/etc/nginx/nginx.conf');
    expect(mount).toBeDefined();
    expect(resolve(INFRA, mount!.split(':')[0]!)).toBe(join(INFRA, 'nginx/nginx.conf'));
    const [, size = '', unit = ''] = /client_max_body_size\s+(\d+)([km]?);/i.exec(nginx) ?? [];
    const bytes = Number(size) * ({ '': 1, k: 1024, m: 1024 ** 2 } as Record<string, number>)[unit.toLowerCase()]!;
    expect(bytes).toBeGreaterThanOrEqual(LIMITS.batchBodyBytes);
    const port = /^\s*listen\s+(\d+)/m.exec(nginx)?.[1];
    expect(services.nginx?.ports?.some((p) => p.endsWith(`:${port}`))).toBe(true);
  });
});
