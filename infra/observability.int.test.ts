import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { send, startApp, startStack, TestDevice, waitFor, type AppProcess, type Stack } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertQueries, dashboardQueries, kedaQueries, metricNames, withGrafanaVariables, type Query } from './promql.ts';

// A real stack (api, worker, gateway, provider-sim) with real traffic through every path
// the dashboards and alerts watch; then every /metrics is scraped and checked: by
// promtool, against the PromQL of the dashboards, the alerting rules and KEDA, and for
// label values that would make cardinality unbounded. The logs of the same run must hold
// neither message content nor the API key.

const ADMIN = `adm_${randomBytes(24).toString('base64url')}`;
// Unique text: found in a log line only if content were logged.
const CONTENT = `observability content ${randomUUID()}`;

let sim: AppProcess;
let stack: Stack;
let apiKey: string;
let tenantId: string;
let device: TestDevice | undefined;
const ids: Record<'app' | 'sms' | 'whatsapp' | 'batch', string> = { app: '', sms: '', whatsapp: '', batch: '' };
/** Each process's /metrics text, by process name. */
const scraped = new Map<string, string>();

const api = () => stack.api!.url;
const processes = () => [stack.api!, ...stack.workers, ...stack.gateways, sim];
const message = async (id: string) => (await send(api(), apiKey, 'GET', `/v1/messages/${id}`)).body;
const waitStatus = (id: string, status: string) =>
  waitFor(
    () => message(id),
    (m) => m.status === status,
  );

async function accept(body: Record<string, unknown>): Promise<string> {
  const r = await send(api(), apiKey, 'POST', '/v1/messages', { content: CONTENT, ...body });
  expect(r.status).toBe(202);
  return r.body.id as string;
}

beforeAll(async () => {
  sim = await startApp('provider-sim', { PROVIDER_SIM_PORT: '0' });
  stack = await startStack('observability', {
    workers: 1,
    gateways: 1,
    env: {
      ADMIN_TOKEN: ADMIN,
      PROVIDER_BASE_URL: sim.url,
      WORKER_BATCH_TIMEOUT_MS: '5',
      // Every statement is "slow": the log lines the no-parameters check reads.
      PG_SLOW_STATEMENT_MS: '0',
    },
  });
  ({ apiKey, tenantId } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 }));

  // An app message to a connected phone, pushed and acknowledged (with a provider fallback
  // scheduled for it), and a frame the gateway cannot use.
  const phone = '+966500000101';
  device = await TestDevice.connect(`ws://127.0.0.1:${stack.gateways[0]!.port}/v1/stream`, stack.deviceToken(phone));
  ids.app = await accept({ recipient: phone, priority: 'high', fallback: 'sms', fallbackAfterSeconds: 3600 });
  await device.waitForMessages(1);
  device.ack(ids.app);
  device.send('not json');
  await device.waitFor((frames) => frames.some((f) => f.type === 'error'));
  await waitStatus(ids.app, 'delivered');

  // An sms through provider-sim.
  ids.sms = await accept({ recipient: '+966500000102', channel: 'sms' });
  await waitStatus(ids.sms, 'sent');

  // A whatsapp message that runs out of attempts: one allowed, and the provider failing.
  const change = await send(api(), ADMIN, 'PUT', '/v1/admin/config', { worker: { maxAttempts: 1 } });
  expect(change.status).toBe(200);
  const version = new RegExp(`^esh3ar_runtime_config_version\\{[^}]*\\} ${change.body.version}$`, 'm');
  await waitFor(
    () => fetch(`${stack.workers[0]!.url}/metrics`).then((r) => r.text()),
    (text) => version.test(text),
  );
  expect((await send(sim.url, null, 'PUT', '/control', { channel: 'whatsapp', errorRate: 1, errorStatus: 500 })).status).toBe(200);
  ids.whatsapp = await accept({ recipient: '+966500000103', channel: 'whatsapp' });
  await waitStatus(ids.whatsapp, 'dead_letter');

  // The batch route, to an offline phone; and a refusal.
  const batch = await send(api(), apiKey, 'POST', '/v1/messages/batch', { messages: [{ recipient: '+966500000104', content: CONTENT }] });
  expect(batch.status).toBe(202);
  ids.batch = batch.body.results[0].id as string;
  expect((await send(api(), apiKey, 'POST', '/v1/messages', { recipient: 'not a phone', content: CONTENT })).status).toBe(400);
  await waitStatus(ids.batch, 'pending');

  for (const p of processes()) {
    const response = await fetch(`${p.url}/metrics`);
    expect(response.status, p.name).toBe(200);
    expect(response.headers.get('content-type'), p.name).toMatch(/^text\/plain; version=0\.0\.4/);
    scraped.set(p.name, await response.text());
  }
});
afterAll(async () => {
  await device?.close();
  await stack?.close();
  await sim?.stop();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
}

/** The samples of a Prometheus text exposition (comments skipped). */
function samples(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s/.exec(line);
      if (!match) throw new Error(`not a sample line: ${line}`);
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
      return { name: match[1]!, labels };
    });
}

const allSamples = () => [...scraped.values()].flatMap(samples);

describe('/metrics of every process', () => {
  it('is served by the api, the worker (OPS_PORT), the gateway and provider-sim', () => {
    expect([...scraped.keys()].sort()).toEqual(['api', 'gateway', 'provider-sim', 'worker']);
    for (const [name, text] of scraped)
      expect(
        samples(text).every((s) => s.labels.service === name),
        name,
      ).toBe(true);
  });

  it('passes promtool check metrics (format and naming lint)', () => {
    for (const [name, text] of scraped) {
      let output = '';
      try {
        output = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
      } catch (error) {
        const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
        expect.fail(`${name}: promtool check metrics failed:\n${stdout}${stderr}`);
      }
      expect(output, name).toBe('');
    }
  });

  it('names every series esh3ar_*, with no label value that grows with tenants, phones or messages', () => {
    const all = allSamples();
    expect(all.length).toBeGreaterThan(500);
    expect(all.filter((s) => !s.name.startsWith('esh3ar_')).map((s) => s.name)).toEqual([]);
    const unbounded = all.flatMap((s) =>
      Object.entries(s.labels)
        .filter(([, value]) => /^\+?\d{8,15}$|[0-9a-f]{8}-[0-9a-f]{4}-|@|esh_/i.test(value) || value.includes(tenantId))
        .map(([label, value]) => `${s.name}{${label}="${value}"}`),
    );
    expect(unbounded).toEqual([]);
  });

  it('counts the traffic just sent, where the dashboards look for it', () => {
    const has = (name: string, labels: Record<string, string>) =>
      allSamples().some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    expect(has('esh3ar_http_requests_total', { route: '/v1/messages', method: 'POST', status: '202' })).toBe(true);
    expect(has('esh3ar_http_requests_total', { route: '/v1/messages/batch', method: 'POST', status: '202' })).toBe(true);
    expect(has('esh3ar_messages_refused_total', { reason: 'validation' })).toBe(true);
    expect(has('esh3ar_gateway_acks_total', { result: 'delivered' })).toBe(true);
    expect(has('esh3ar_provider_sends_total', { channel: 'sms', outcome: 'sent' })).toBe(true);
    expect(has('esh3ar_provider_sends_total', { channel: 'whatsapp', outcome: 'dead_letter' })).toBe(true);
    expect(has('esh3ar_db_statement_duration_seconds_count', { service: 'worker', statement: 'commit' })).toBe(true);
    expect(has('esh3ar_db_statement_duration_seconds_count', { service: 'gateway', statement: 'mark-delivered' })).toBe(true);
    for (const queue of ['ingest', 'send-sms', 'send-whatsapp', 'send-email']) {
      for (const state of ['waiting', 'prioritized', 'delayed', 'active', 'failed'])
        expect(has('esh3ar_queue_jobs', { queue, state }), `${queue} ${state}`).toBe(true);
    }
  });
});

/** Label matchers attached to a metric name: metric{label="v", other=~"re"}. */
function selectors(expr: string): { metric: string; label: string; op: string; value: string }[] {
  return [...withGrafanaVariables(expr).matchAll(/\b([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}/g)].flatMap((m) =>
    [...m[2]!.matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((l) => ({
      metric: m[1]!,
      label: l[1]!,
      op: l[2]!,
      value: l[3]!,
    })),
  );
}

/** Labels an expression aggregates or matches on: by (…), without (…), on (…), ignoring (…). */
function groupingLabels(expr: string): string[] {
  return [...expr.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)].flatMap((m) =>
    m[1]!
      .split(',')
      .map((l) => l.trim())
      .filter(Boolean),
  );
}

// Prometheus makes these itself: `up` per target, `job` and `instance` on every series.
const FROM_PROMETHEUS = new Set(['up']);
const TARGET_LABELS = new Set(['job', 'instance']);

describe('every PromQL query of the repository reads series the running stack exposes', () => {
  const queries: Query[] = [...dashboardQueries(), ...alertQueries(), ...kedaQueries()];

  it('has queries from the four dashboards, the alerting rules and the KEDA scaler', () => {
    expect(new Set(dashboardQueries().map((q) => q.source.split(' / ')[0])).size).toBeGreaterThanOrEqual(4);
    expect(alertQueries().length).toBeGreaterThanOrEqual(10);
    expect(kedaQueries().length).toBeGreaterThanOrEqual(1);
  });

  it('each metric name exists (histograms as _bucket, _sum, _count)', () => {
    const names = new Set(allSamples().map((s) => s.name));
    const missing = queries.flatMap((q) =>
      metricNames(q.expr)
        .filter((n) => !names.has(n) && !FROM_PROMETHEUS.has(n))
        .map((n) => `${q.source}: ${n}`),
    );
    expect(missing).toEqual([]);
    expect(queries.every((q) => metricNames(q.expr).length > 0)).toBe(true);
  });

  it('each label it matches on exists on that metric, and each value it asks for exactly was seen', () => {
    const all = allSamples();
    const problems = queries.flatMap((q) =>
      selectors(q.expr).flatMap(({ metric, label, op, value }) => {
        if (FROM_PROMETHEUS.has(metric) || TARGET_LABELS.has(label)) return [];
        const series = all.filter((s) => s.name === metric);
        if (!series.some((s) => label in s.labels)) return [`${q.source}: ${metric} has no label ${label}`];
        if (op === '=' && !series.some((s) => s.labels[label] === value))
          return [`${q.source}: no ${metric}{${label}="${value}"} was seen`];
        return [];
      }),
    );
    expect(problems).toEqual([]);
  });

  it('each label it groups by is on one of the metrics it reads', () => {
    const all = allSamples();
    const problems = queries.flatMap((q) => {
      const metrics = metricNames(q.expr).filter((n) => !FROM_PROMETHEUS.has(n));
      const labels = new Set(all.filter((s) => metrics.includes(s.name)).flatMap((s) => Object.keys(s.labels)));
      return groupingLabels(q.expr)
        .filter((label) => !TARGET_LABELS.has(label) && !labels.has(label))
        .map((label) => `${q.source}: no label ${label} on ${metrics.join(', ')}`);
    });
    expect(problems).toEqual([]);
  });
});

describe('logs of the same run', () => {
  const lines = () => processes().flatMap((p) => p.logs.map((line) => ({ process: p.name, line, text: JSON.stringify(line) })));

  it('hold neither message content nor the API key, in any process', () => {
    expect(lines().length).toBeGreaterThan(50);
    expect(
      lines()
        .filter((l) => l.text.includes(CONTENT) || l.text.includes('observability content'))
        .map((l) => l.text),
    ).toEqual([]);
    expect(
      lines()
        .filter((l) => l.text.includes(apiKey) || l.text.includes(apiKey.slice(4, 20)))
        .map((l) => l.text),
    ).toEqual([]);
  });

  it('are JSON with a level, a time and the service; a slow statement is logged by name, without parameters', () => {
    for (const { process, line } of lines())
      expect(line, process).toMatchObject({ level: expect.any(Number), time: expect.any(String), service: process });
    const slow = lines().filter((l) => l.line.msg === 'slow statement');
    expect(new Set(slow.map((l) => l.process))).toEqual(new Set(['api', 'worker', 'gateway']));
    for (const { line } of slow)
      expect(Object.keys(line).sort()).toEqual(
        [
          'durationMs',
          'failed',
          'level',
          'msg',
          'pid',
          'service',
          'statement',
          'time',
          ...('gatewayId' in line ? ['gatewayId'] : []),
        ].sort(),
      );
    expect(slow.map((l) => l.line.statement)).toEqual(
      expect.arrayContaining(['commit', 'provider-outcome', 'mark-delivered', 'get-message']),
    );
  });

  it('name the message on a line about one, and the request on a request’s line', async () => {
    const deadLetter = lines().find((l) => l.line.msg === 'messages moved to the dead-letter queue');
    expect(deadLetter?.line).toMatchObject({ channel: 'whatsapp', count: 1, ids: [ids.whatsapp] });
    const replay = await send(api(), ADMIN, 'POST', '/v1/admin/dlq/replay', { ids: [ids.whatsapp] });
    expect(replay.status).toBe(200);
    const replayed = await stack.api!.waitForLog((line) => line.msg === 'dead letters replayed');
    expect(replayed).toMatchObject({ reqId: expect.any(String), replayed: 1 });
  });
});
