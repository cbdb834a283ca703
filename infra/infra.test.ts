import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { LIMITS } from '../packages/contracts/src/index.ts';
import { parseCommonConfig } from '../packages/config/src/index.ts';
import { NODE_FLAGS, type AppName } from '../packages/stack/src/index.ts';
import {
  appEnvRead,
  appOf,
  BACKLOG_VARS,
  configOf,
  GRACE_MS,
  listenBacklog,
  nodeFlagsOf,
  PORT_VARS,
  read,
  ROOT,
  variablesRead,
} from './apps.ts';

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

const INFRA = import.meta.dirname;
const words = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(' ') : (value ?? ''));
/** A compose environment value as the process sees it: YAML numbers become strings, null is unset. */
const envText = (value: string | number | null | undefined) => (value === null || value === undefined ? undefined : String(value));

// `merge: true`: compose honours YAML merge keys (`<<: *app`); YAML 1.2 parsers don't by default.
const services = (parse(read('infra/docker-compose.yml'), { merge: true }) as { services: Record<string, Service> }).services;
const dockerfile = read('infra/Dockerfile');
const nginx = read('infra/nginx/nginx.conf');

/** Services that run one of our apps, with the app directory their command starts. */
const appServices = Object.entries(services).flatMap(([name, service]) => {
  const app = appOf(words(service.entrypoint) + ' ' + words(service.command));
  return app === undefined ? [] : [{ name, app, service }];
});
const appService = (name: string) => appServices.find((s) => s.name === name)!;

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
  it('starts each app with the node flags of the stack kit (packages/stack NODE_FLAGS) and of its start script', () => {
    for (const { name, app, service } of appServices) {
      if (!(app in NODE_FLAGS)) continue; // the cli
      const expected = NODE_FLAGS[app as AppName];
      expect(nodeFlagsOf(words(service.entrypoint) + ' ' + words(service.command)), name).toEqual(expected);
      const start = (JSON.parse(read(`apps/${app}/package.json`)) as { scripts: { start: string } }).scripts.start;
      expect(nodeFlagsOf(start.replace('src/main.ts', `apps/${app}/src/main.ts`)), `apps/${app}/package.json`).toEqual(expected);
    }
  });

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
    expect(variablesRead(parseCommonConfig)).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'REDIS_PREFIX', 'HOST']));
    expect(appEnvRead('gateway')).toEqual(expect.arrayContaining(['DEVICE_TOKEN_SECRET', 'GATEWAY_PORT', 'BUFFER_CAPACITY']));
    // provider-sim hands parseCommonConfig only HOST and LOG_LEVEL: no database, no Redis.
    const simReads = appEnvRead('provider-sim');
    expect(simReads.filter((name) => !name.startsWith('PROVIDER_SIM_')).sort()).toEqual(['HOST', 'LOG_LEVEL']);
    expect(simReads).toEqual(expect.arrayContaining(['PROVIDER_SIM_PORT', 'PROVIDER_SIM_MAX_RECEIVED']));
    for (const { name, app, service } of appServices) {
      const known = new Set(['NODE_ENV', ...appEnvRead(app)]);
      const unknown = Object.keys(service.environment ?? {}).filter((key) => !known.has(key));
      expect(unknown, `${name} sets variables apps/${app} never reads`).toEqual([]);
    }
  });

  it('migrates once, before any app that uses the database starts', () => {
    expect(words(appService('migrate').service.command)).toMatch(/apps\/cli\/src\/main\.ts migrate$/);
    expect(appService('migrate').service.depends_on?.postgres?.condition).toBe('service_healthy');
    const usingDatabase = appServices.filter((s) => s.name !== 'migrate' && appEnvRead(s.app).includes('DATABASE_URL'));
    expect(usingDatabase.map((s) => s.name)).toEqual(expect.arrayContaining(['api', 'worker', 'gateway']));
    for (const { name, service } of usingDatabase) {
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
      expect(appEnvRead(name), name).toContain(backlogVar);
      const backlog = listenBacklog(name, envText(environment?.[backlogVar]));
      expect(backlog, `${name} ${backlogVar}`).toBeGreaterThan(0);
      expect(Number(sysctls?.['net.core.somaxconn']), name).toBeGreaterThanOrEqual(backlog);
    }
    const nginxBacklog = Number(/listen\s+\d+[^;]*\bbacklog=(\d+)/.exec(nginx)?.[1]);
    expect(Number(services.nginx?.sysctls?.['net.core.somaxconn'])).toBeGreaterThanOrEqual(nginxBacklog);
  });

  it('gives each app the time it takes to drain before SIGKILL', () => {
    for (const { name, app, service } of appServices.filter((s) => s.name !== 'migrate')) {
      expect(GRACE_MS[app], `apps/${app} SHUTDOWN_GRACE_MS`).toBeGreaterThan(0);
      expect(seconds(service.stop_grace_period), name).toBeGreaterThan(GRACE_MS[app]! / 1000);
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
  const directive = (block: string, name: string) =>
    [...block.matchAll(new RegExp(`^\\s*${name}\\s+([^;]*);`, 'gm'))].map((m) => m[1]!.trim());
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
    expect(
      authorization.every((header) => /\s\$http_authorization$/.test(header)),
      authorization.join(),
    ).toBe(true);
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
    expect(appEnvRead('gateway')).toContain('GATEWAY_PING_INTERVAL_MS');
    const pingMs = configOf('gateway', { GATEWAY_PING_INTERVAL_MS: envText(gateway.environment?.GATEWAY_PING_INTERVAL_MS) }).websocket
      .pingIntervalMs;
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

describe('monitoring in compose: Prometheus and Grafana', () => {
  interface ScrapeJob {
    job_name: string;
    dns_sd_configs?: { names: string[]; type?: string; port: number }[];
    static_configs?: { targets: string[] }[];
  }
  const prometheusConfig = parse(read('infra/prometheus/prometheus.yml')) as { rule_files: string[]; scrape_configs: ScrapeJob[] };
  /** Each job's targets as "service:port", with how they are found. */
  const targets = prometheusConfig.scrape_configs.flatMap((job) => [
    ...(job.dns_sd_configs ?? []).flatMap((sd) =>
      sd.names.map((host) => ({ job: job.job_name, target: `${host}:${sd.port}`, dns: sd.type ?? 'SRV' })),
    ),
    ...(job.static_configs ?? []).flatMap((sc) => sc.targets.map((target) => ({ job: job.job_name, target, dns: null }))),
  ]);
  /** compose `./x:/y[:ro]` mounts of a service: container path → host path under infra/. */
  const mounts = (service: string) =>
    new Map(
      (services[service]?.volumes ?? [])
        .filter((v) => v.startsWith('./'))
        .map((v) => {
          const [host, container] = v.split(':');
          return [container!, resolve(INFRA, host!)] as const;
        }),
    );
  /** The host file or folder a container path is under, through a service's mounts. */
  const hostPath = (service: string, path: string) => {
    for (const [container, host] of mounts(service)) {
      if (path === container || path.startsWith(`${container}/`)) return join(host, path.slice(container.length));
    }
    return undefined;
  };

  it('scrapes every replica of each app on the port it listens on, replicated services through Docker DNS', () => {
    const scraped = appServices.filter((s) => PORT_VARS[s.app] !== undefined);
    expect(scraped.map((s) => s.name).sort()).toEqual(['api', 'gateway', 'provider-sim', 'worker']);
    for (const { name, app, service } of scraped) {
      const port = service.environment?.[PORT_VARS[app]!];
      const found = targets.filter((t) => t.target === `${name}:${port}`);
      expect(found, `${name}:${port}`).toHaveLength(1);
      // One A record per container: every replica, those added by --scale included.
      if ((service.deploy?.replicas ?? 1) > 1) expect(found[0]!.dns, name).toBe('A');
    }
    expect(new Set(prometheusConfig.scrape_configs.map((j) => j.job_name)).size).toBe(prometheusConfig.scrape_configs.length);
    for (const { target } of targets) {
      const host = target.split(':')[0]!;
      expect(host === '127.0.0.1' || host in services, target).toBe(true);
    }
  });

  it('gives the workers the provider-sim address', () => {
    const sim = appServices.find((s) => s.app === 'provider-sim')!;
    expect(appService('worker').service.environment?.PROVIDER_BASE_URL).toBe(
      `http://${sim.name}:${sim.service.environment?.PROVIDER_SIM_PORT}`,
    );
  });

  it('mounts prometheus.yml where --config.file says, and every rules file where rule_files looks', () => {
    const configFile = /--config\.file=(\S+)/.exec(words(services.prometheus?.command))?.[1];
    expect(hostPath('prometheus', configFile!)).toBe(join(INFRA, 'prometheus/prometheus.yml'));
    const rules = readdirSync(join(INFRA, 'prometheus/rules')).filter((f) => f.endsWith('.yml'));
    expect(rules.length).toBeGreaterThanOrEqual(4);
    for (const glob of prometheusConfig.rule_files) {
      const dir = hostPath('prometheus', glob.slice(0, glob.lastIndexOf('/')));
      expect(dir, glob).toBe(join(INFRA, 'prometheus/rules'));
      expect(glob.slice(glob.lastIndexOf('/') + 1), glob).toBe('*.yml');
    }
    expect(services.prometheus?.healthcheck).toBeDefined();
  });

  it('provisions Grafana with that Prometheus (a fixed datasource uid) and the dashboards folder', () => {
    expect(hostPath('grafana', '/etc/grafana/provisioning')).toBe(join(INFRA, 'grafana/provisioning'));
    const datasources = (
      parse(read('infra/grafana/provisioning/datasources/prometheus.yml')) as { datasources: { uid: string; type: string; url: string }[] }
    ).datasources;
    expect(datasources).toHaveLength(1);
    expect(datasources[0]).toMatchObject({ uid: 'esh3ar-prometheus', type: 'prometheus' });
    const prometheusPort = services.prometheus?.ports?.[0]?.split(':').at(-1);
    expect(datasources[0]!.url).toBe(`http://prometheus:${prometheusPort}`);
    const providers = (
      parse(read('infra/grafana/provisioning/dashboards/esh3ar.yml')) as { providers: { type: string; options: { path: string } }[] }
    ).providers;
    expect(providers.map((p) => p.type)).toEqual(['file']);
    expect(hostPath('grafana', providers[0]!.options.path)).toBe(join(INFRA, 'grafana/dashboards'));
    const home = services.grafana?.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
    expect(existsSync(hostPath('grafana', String(home)) ?? ''), String(home)).toBe(true);
    expect(services.grafana?.depends_on?.prometheus?.condition).toBe('service_healthy');
  });
});
