import { randomBytes } from 'node:crypto';
import { DEFAULT_RUNTIME_CONFIG } from '@esh3ar/runtime';
import { send, startStack, type AppProcess, type Stack } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ADMIN_TOKEN = `adm_${randomBytes(24).toString('base64url')}`;
let stack: Stack;
let api: string;

const admin = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  send(api, ADMIN_TOKEN, method, path, body, headers);

async function history(): Promise<{ version: number; changedAt: string; changedBy: string; config: unknown }[]> {
  const r = await admin('GET', '/v1/admin/config/history');
  expect(r.status).toBe(200);
  return r.body.items;
}

/** Resolves with the time (ms) at which `app` logged that it applied `version`. */
async function appliedAt(app: AppProcess, version: number): Promise<number> {
  const line = await app.waitForLog((l) => l.msg === 'runtime configuration applied' && l.version === version, 5000);
  return Date.parse(String(line.time));
}

async function gauge(url: string): Promise<number> {
  const text = (await (await fetch(`${url}/metrics`)).text()).split('\n');
  const line = text.find((l) => /^esh3ar_runtime_config_version[{ ]/.test(l));
  return Number(line?.split(' ').at(-1));
}

beforeAll(async () => {
  stack = await startStack('runtime-config', { workers: 1, env: { ADMIN_TOKEN } });
  api = stack.api!.url;
});
afterAll(async () => stack?.close());

describe('runtime configuration', () => {
  it('starts at version 0, the built-in defaults, in every process', async () => {
    expect((await admin('GET', '/v1/admin/config')).body).toEqual({ version: 0, config: DEFAULT_RUNTIME_CONFIG });
    expect(await history()).toEqual([{ version: 0, changedAt: expect.any(String), changedBy: 'defaults', config: DEFAULT_RUNTIME_CONFIG }]);
    expect(await gauge(api)).toBe(0);
    expect(await gauge(stack.workers[0]!.url)).toBe(0);
  });

  it.each([
    ['a negative capacity', { buffer: { capacity: -1 } }, '/buffer/capacity'],
    ['a watermark of 0', { buffer: { highWatermark: 0 } }, '/buffer/highWatermark'],
    ['a watermark over 1', { buffer: { highWatermark: 1.5 } }, '/buffer/highWatermark'],
    ['an unknown key', { buffer: { capacty: 10 } }, '/buffer/capacty'],
    ['an unknown section', { limits: {} }, '/limits'],
    ['an unknown tier', { rateLimit: { tiers: { gold: { rpm: 5, burst: 5 } } } }, '/rateLimit/tiers/gold'],
    ['a string for a number', { worker: { batchSize: '500' } }, '/worker/batchSize'],
    ['a valid value next to an invalid one', { buffer: { capacity: 100 }, gateway: { ackTimeoutMs: 1 } }, '/gateway/ackTimeoutMs'],
    ['an array', [{ buffer: { capacity: 10 } }], '/'],
    ['null', null, '/'],
  ])('PUT refuses %s with 400 VALIDATION_FAILED, and stores and applies nothing', async (_name, body, path) => {
    const before = await history();
    const r = await admin('PUT', '/v1/admin/config', body === null ? 'null' : body, { 'content-type': 'application/json' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('VALIDATION_FAILED');
    expect(r.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    expect(await history()).toEqual(before);
    expect((await admin('GET', '/v1/admin/config')).body.version).toBe(before[0]!.version);
  });

  it('PUT stores a new version with who and when, and the running api and worker apply it within 2 s without a restart', async () => {
    const worker = stack.workers[0]!;
    const sentAt = Date.now();
    const r = await admin(
      'PUT',
      '/v1/admin/config',
      { buffer: { capacity: 1 }, worker: { batchSize: 10 } },
      { 'x-changed-by': 'ops-alice' },
    );
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      version: 1,
      config: {
        ...DEFAULT_RUNTIME_CONFIG,
        buffer: { capacity: 1, highWatermark: 0.8 },
        worker: { ...DEFAULT_RUNTIME_CONFIG.worker, batchSize: 10 },
      },
    });
    const [inApi, inWorker] = await Promise.all([appliedAt(stack.api!, 1), appliedAt(worker, 1)]);
    expect(inApi - sentAt).toBeLessThan(2000);
    expect(inWorker - sentAt).toBeLessThan(2000);
    expect(await gauge(api)).toBe(1);
    expect(await gauge(worker.url)).toBe(1);
    const [latest] = await history();
    expect(latest).toMatchObject({ version: 1, changedBy: 'ops-alice' });
    expect(Math.abs(Date.parse(latest!.changedAt) - sentAt)).toBeLessThan(5000);

    // In force: a capacity of 1 puts normal messages over the watermark at once.
    const { apiKey } = await stack.tenant('enterprise');
    const shed = await send(api, apiKey, 'POST', '/v1/messages', { recipient: '+966501234567', content: 'normal' });
    expect(shed.status).toBe(503);
    expect(shed.body.error.code).toBe('OVERLOADED');
    expect((await send(api, null, 'GET', '/health/ready')).body.checks.buffer.capacity).toBe(1);
    expect((await send(worker.url, null, 'GET', '/health/ready')).body.checks.buffer.capacity).toBe(1);
  });

  it('a tier change reaches the rate limiter of the running api', async () => {
    const { apiKey } = await stack.tenant('basic');
    const r = await admin('PUT', '/v1/admin/config', { buffer: { capacity: 50_000 }, rateLimit: { tiers: { basic: { rpm: 50 } } } });
    expect(r.body.version).toBe(2);
    await appliedAt(stack.api!, 2);
    const sent = await send(api, apiKey, 'POST', '/v1/messages', { recipient: '+966501234567', content: 'hi' });
    expect(sent.status).toBe(202);
    expect(sent.headers.get('x-ratelimit-limit')).toBe('50');
  });

  it('rollback restores an earlier version as a new one (0: the defaults); an unknown version is 404', async () => {
    const one = (await history()).find((v) => v.version === 1)!;
    const back = await admin('POST', '/v1/admin/config/rollback', { version: 1 }, { 'x-changed-by': 'ops-bob' });
    expect(back.status).toBe(200);
    expect(back.body).toEqual({ version: 3, config: one.config });
    await Promise.all([appliedAt(stack.api!, 3), appliedAt(stack.workers[0]!, 3)]);
    expect((await admin('GET', '/v1/admin/config')).body).toEqual({ version: 3, config: one.config });

    const zero = await admin('POST', '/v1/admin/config/rollback', { version: 0 });
    expect(zero.body).toEqual({ version: 4, config: DEFAULT_RUNTIME_CONFIG });
    await appliedAt(stack.api!, 4);
    expect((await send(api, null, 'GET', '/health/ready')).body.checks.buffer.capacity).toBe(50_000);

    const before = await history();
    const missing = await admin('POST', '/v1/admin/config/rollback', { version: 99 });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
    for (const body of [{}, { version: -1 }, { version: '1' }, { version: 1, extra: true }]) {
      const bad = await admin('POST', '/v1/admin/config/rollback', body);
      expect(bad.status, JSON.stringify(body)).toBe(400);
      expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    }
    expect(await history()).toEqual(before);
  });

  it('history lists every version newest first, down to 0, with who changed it', async () => {
    const items = await history();
    expect(items.map((i) => [i.version, i.changedBy])).toEqual([
      [4, 'admin'],
      [3, 'ops-bob'],
      [2, 'admin'],
      [1, 'ops-alice'],
      [0, 'defaults'],
    ]);
    expect((await admin('GET', '/v1/admin/config/history?limit=2')).body.items.map((i: { version: number }) => i.version)).toEqual([4, 3]);
    expect((await admin('GET', '/v1/admin/config/history?limit=0')).status).toBe(400);
  });
});
