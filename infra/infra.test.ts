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
  deploy?: { replicas?: number };
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

/** Every variable an app reads: its config.ts, the common settings, and the runtime ones if it calls runtimeConfigFromEnv. */
function appEnvRead(app: string): string[] {
  const config = `apps/${app}/src/config.ts`;
  const runtime = /\bruntimeConfigFromEnv\(/.test(read(config)) ? envRead('packages/config/src/runtime-env.ts') : [];
  return [...envRead('packages/config/src/common.ts'), ...runtime, ...envRead(config)];
}

/** The default an app's config.ts gives a variable: `readX(env, 'NAME', 16_384, ...)`. */
function envDefault(app: string, name: string): number {
  const value = new RegExp(`'${name}',\\s*([\\d_]+)`).exec(read(`apps/${app}/src/config.ts`))?.[1];
  return Number(value?.replaceAll('_', ''));
}

/** The port variable each long-running app listens on, and its /health/ready port. */
const PORT_VARS: Record<string, string> = { api: 'API_PORT', worker: 'OPS_PORT', gateway: 'GATEWAY_PORT' };
/** The listen backlog variable of each app that accepts client connections. */
const BACKLOG_VARS: Record<string, string> = { api: 'API_LISTEN_BACKLOG', gateway: 'GATEWAY_LISTEN_BACKLOG' };

/** An nginx time (`30s`, `1h`; no unit is seconds); unset is the proxy timeouts' default, 60 s. */
function nginxSeconds(time: string | undefined): number {
  if (time === undefined) return 60;
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(time);
  if (!match) return Number.NaN;
  return Number(match[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
}

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
    expect(appServices.map((s) => s.name)).toEqual(expect.arrayContaining(['api', 'gateway', 'migrate', 'worker']));
    for (const [name, service] of Object.entries(services).filter(([, s]) => s.build !== undefined)) {
      const files = `${words(service.entrypoint)} ${words(service.command)}`.split(/\s+/).filter((w) => /\.[cm]?[jt]s$/.test(w));
      expect(files, name).not.toEqual([]);
      for (const file of files) expect(existsSync(join(ROOT, file)), `${name}: ${file}`).toBe(true);
    }
  });

  it('sets only environment variables the app reads', () => {
    expect(envRead('packages/config/src/common.ts')).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'REDIS_PREFIX', 'HOST']));
    expect(appEnvRead('gateway')).toEqual(expect.arrayContaining(['DEVICE_TOKEN_SECRET', 'GATEWAY_PORT', 'BUFFER_CAPACITY']));
    for (const { name, app, service } of appServices) {
      const known = new Set(['NODE_ENV', ...appEnvRead(app)]);
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

  it('lets the kernel queue as many connections as the api, the gateway and nginx ask for', () => {
    for (const [name, backlogVar] of Object.entries(BACKLOG_VARS)) {
      const { environment, sysctls } = appService(name).service;
      const backlog = Number(environment?.[backlogVar] ?? envDefault(name, backlogVar));
      expect(backlog, `${name} ${backlogVar}`).toBeGreaterThan(0);
      expect(Number(sysctls?.['net.core.somaxconn']), name).toBeGreaterThanOrEqual(backlog);
    }
    const nginxBacklog = Number(/listen\s+\d+[^;]*\bbacklog=(\d+)/.exec(nginx)?.[1]);
    expect(Number(services.nginx?.sysctls?.['net.core.somaxconn'])).toBeGreaterThanOrEqual(nginxBacklog);
  });

  it('gives each app the time it takes to drain before SIGKILL', () => {
    for (const { name, app, service } of appServices.filter((s) => s.name !== 'migrate')) {
      const delayMs = Number(/closeWithGrace\(\{\s*delay:\s*([\d_]+)/.exec(read(`apps/${app}/src/main.ts`))![1]!.replaceAll('_', ''));
      expect(seconds(service.stop_grace_period), name).toBeGreaterThan(delayMs / 1000);
    }
  });

  it('runs at least two gateways from apps/gateway, with the device token secret required', () => {
    const gateway = appService('gateway');
    expect(gateway?.app).toBe('gateway');
    expect(gateway.service.deploy?.replicas ?? 1).toBeGreaterThanOrEqual(2);
    // `${VAR:?message}`: compose refuses to start without it, rather than starting gateways that exit.
    expect(String(gateway.service.environment?.DEVICE_TOKEN_SECRET)).toMatch(/^\$\{DEVICE_TOKEN_SECRET:\?[^}]+\}$/);
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
  /** Each `upstream NAME { ... }` block's body, by name. */
  const upstreams = new Map([...nginx.matchAll(/\bupstream\s+(\w+)\s*\{([^}]*)\}/g)].map((m) => [m[1]!, m[2]!]));
  /** Each `location [=|^~] PATH { ... }` block's body, by path (none nests another block). */
  const locations = new Map([...nginx.matchAll(/\blocation\s+(?:(?:=|\^~)\s+)?([^\s{]+)\s*\{([^}]*)\}/g)].map((m) => [m[1]!, m[2]!]));
  /** The upstream that proxies to a compose service: [name, body]. */
  const upstreamOf = (service: string) => [...upstreams].find(([, body]) => new RegExp(`\\bserver\\s+${service}:`).test(body)) ?? ['', ''];
  /** The arguments of each `name ...;` directive in a block. */
  const directive = (block: string, name: string) => [...block.matchAll(new RegExp(`^\\s*${name}\\s+([^;]*);`, 'gm'))].map((m) => m[1]!.trim());
  const stream = locations.get('/v1/stream') ?? '';

  it('proxies to the api service on its API_PORT, through a keepalive upstream', () => {
    const [name, body] = upstreamOf('api');
    expect(body).toMatch(new RegExp(`\\bserver\\s+api:${appService('api').service.environment?.API_PORT}\\b`));
    expect(body).toMatch(/\bkeepalive\s+\d+;/);
    const root = locations.get('/') ?? '';
    expect(directive(root, 'proxy_pass')).toEqual([`http://${name}`]);
    // Upstream keepalive needs HTTP/1.1 and an empty Connection header.
    expect(directive(root, 'proxy_http_version')).toEqual(['1.1']);
    expect(directive(root, 'proxy_set_header')).toContain('Connection ""');
  });

  it('re-resolves the api and gateway replicas, on an nginx that can (`resolve` is in stable 1.28)', () => {
    for (const service of ['api', 'gateway']) expect(upstreamOf(service)[0], `upstream for ${service}`).not.toBe('');
    for (const [name, body] of upstreams) expect(body, name).toMatch(/\bserver\s+\S+\s+resolve;/);
    expect(nginx).toMatch(/\bresolver\s+127\.0\.0\.11\b/);
    const [major = 0, minor = 0] = (/^nginx:(\d+)\.(\d+)/.exec(services.nginx?.image ?? '') ?? []).slice(1).map(Number);
    expect(major * 1000 + minor, services.nginx?.image).toBeGreaterThanOrEqual(1028);
  });

  it('sends /v1/stream, the gateway’s WebSocket route, to any gateway on its GATEWAY_PORT', () => {
    expect(read('apps/gateway/src/server.ts')).toMatch(/['"]\/v1\/stream['"]/);
    const [name, body] = upstreamOf('gateway');
    expect(body).toMatch(new RegExp(`\\bserver\\s+gateway:${appService('gateway').service.environment?.GATEWAY_PORT}\\b`));
    // Any gateway serves any phone: no client pinned to one replica.
    expect(body).not.toMatch(/^\s*(ip_hash|hash|sticky)\b/m);
    expect(services.nginx?.depends_on?.gateway?.condition).toBe('service_healthy');
    // No URI after the upstream: the request URI goes on as it came, `?access_token=` included.
    expect(directive(stream, 'proxy_pass')).toEqual([`http://${name}`]);
    expect(stream).not.toMatch(/^\s*rewrite\b/m);
    // nginx forwards every request header, Authorization included, unless told otherwise.
    expect(nginx).not.toMatch(/\bproxy_pass_request_headers\s+off\b/);
    const authorization = directive(stream, 'proxy_set_header').filter((header) => /^authorization\s/i.test(header));
    expect(authorization.every((header) => /\s\$http_authorization$/.test(header)), authorization.join()).toBe(true);
  });

  it('upgrades /v1/stream to a WebSocket and keeps it open between the gateway’s pings', () => {
    expect(directive(stream, 'proxy_http_version')).toEqual(['1.1']);
    const headers = directive(stream, 'proxy_set_header');
    expect(headers).toContain('Upgrade $http_upgrade');
    expect(headers).toContain('Connection $connection_upgrade');
    const map = /\bmap\s+\$http_upgrade\s+\$connection_upgrade\s*\{([^}]*)\}/.exec(nginx)?.[1] ?? '';
    expect(map).toMatch(/^\s*default\s+upgrade;/m);
    expect(map).toMatch(/^\s*''\s+close;/m);
    // nginx closes a tunnel the gateway has sent nothing on for proxy_read_timeout; the
    // gateway pings every GATEWAY_PING_INTERVAL_MS. Room for one late ping, and >= 60 s.
    const gateway = appService('gateway').service;
    const pingMs = Number(gateway.environment?.GATEWAY_PING_INTERVAL_MS ?? envDefault('gateway', 'GATEWAY_PING_INTERVAL_MS'));
    expect(pingMs).toBeGreaterThan(0);
    const readTimeout = nginxSeconds(directive(stream, 'proxy_read_timeout').at(-1));
    expect(readTimeout).toBeGreaterThanOrEqual(60);
    expect(readTimeout).toBeGreaterThan((2 * pingMs) / 1000);
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
