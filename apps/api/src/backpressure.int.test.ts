import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, send, startApp, startStack, waitFor, type Stack } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const message = (priority: string) => ({ recipient: '+966501234567', content: `a ${priority} message`, priority });

describe('backpressure on the buffer (capacity 10, watermark 0.5, no worker storing)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack('backpressure', { env: { BUFFER_CAPACITY: '10', BUFFER_HIGH_WATERMARK: '0.5' } });
  });
  afterAll(async () => stack?.close());

  it('sheds low and normal from the watermark, high and critical at capacity, and drops nothing it accepted', async () => {
    const api = stack.api!.url;
    const { apiKey, tenantId } = await stack.tenant();
    const accepted: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await send(api, apiKey, 'POST', '/v1/messages', message(i % 2 ? 'low' : 'normal'));
      expect(r.status).toBe(202);
      accepted.push(r.body.id);
    }
    for (const priority of ['low', 'normal']) {
      const r = await send(api, apiKey, 'POST', '/v1/messages', message(priority));
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('OVERLOADED');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    for (let i = 0; i < 5; i++) {
      const r = await send(api, apiKey, 'POST', '/v1/messages', message(i % 2 ? 'high' : 'critical'));
      expect(r.status).toBe(202);
      accepted.push(r.body.id);
    }
    for (const priority of ['critical', 'high']) {
      const r = await send(api, apiKey, 'POST', '/v1/messages', message(priority));
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('OVERLOADED');
    }
    const batch = await send(api, apiKey, 'POST', '/v1/messages/batch', { messages: [message('critical')] });
    expect(batch.body).toMatchObject({ accepted: 0, rejected: 1, results: [{ index: 0, error: { code: 'OVERLOADED' } }] });

    const ready = await send(api, null, 'GET', '/health/ready');
    expect(ready.body.checks.buffer).toEqual({ depth: 10, capacity: 10, utilization: 1 });

    // A worker drains the buffer: exactly the accepted messages are stored, and intake reopens.
    await stack.startWorker();
    const stored = await waitFor(
      async () =>
        (await stack.pool.query<{ id: string }>('SELECT id FROM messages WHERE tenant_id = $1', [tenantId])).rows.map((r) => r.id),
      (ids) => ids.length >= accepted.length,
    );
    expect(stored.sort()).toEqual([...accepted].sort());
    await waitFor(
      () => send(api, apiKey, 'POST', '/v1/messages', message('low')),
      (r) => r.status === 202,
    );
  });
});

describe('backpressure at capacity 200 (watermark 0.8), no worker storing, concurrent senders', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack('backpressure-200', { env: { BUFFER_CAPACITY: '200' } });
  });
  afterAll(async () => stack?.close());

  /** `total` requests of one priority, `wave` at a time; the ids of those answered 202. */
  async function sendWaves(apiKey: string, priority: string, total: number, wave = 25): Promise<{ accepted: string[]; refused: number }> {
    const accepted: string[] = [];
    let refused = 0;
    for (let sent = 0; sent < total; sent += wave) {
      const answers = await Promise.all(
        Array.from({ length: Math.min(wave, total - sent) }, () => send(stack.api!.url, apiKey, 'POST', '/v1/messages', message(priority))),
      );
      for (const r of answers) {
        if (r.status === 202) accepted.push(r.body.id);
        else {
          expect(r.status).toBe(503);
          expect(r.body.error.code).toBe('OVERLOADED');
          expect(r.headers.get('retry-after')).toBe('2');
          refused++;
        }
      }
    }
    return { accepted, refused };
  }

  it('normal is shed from 160, critical admitted up to 200; after a worker drains, 202 again; every 202 stored once', async () => {
    const api = stack.api!.url;
    const { apiKey, tenantId } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 });
    const normal = await sendWaves(apiKey, 'normal', 250);
    expect(normal.accepted).toHaveLength(160);
    expect(normal.refused).toBe(90);
    const critical = await sendWaves(apiKey, 'critical', 60);
    expect(critical.accepted).toHaveLength(40);
    expect((await send(api, apiKey, 'POST', '/v1/messages', message('high'))).status).toBe(503);
    expect((await send(api, null, 'GET', '/health/ready')).body.checks.buffer).toEqual({ depth: 200, capacity: 200, utilization: 1 });

    await stack.startWorker();
    const reopened = await waitFor(
      () => send(api, apiKey, 'POST', '/v1/messages', message('normal')),
      (r) => r.status === 202,
    );
    const accepted = [...normal.accepted, ...critical.accepted, reopened.body.id as string];
    const { rows } = await waitFor(
      () =>
        stack.pool.query<{ id: string; copies: string }>('SELECT id, count(*) AS copies FROM messages WHERE tenant_id = $1 GROUP BY id', [
          tenantId,
        ]),
      (result) => result.rows.length >= accepted.length,
    );
    expect(rows.map((r) => r.id).sort()).toEqual([...accepted].sort());
    expect(rows.every((r) => r.copies === '1')).toBe(true);
  });
});

describe('memory pressure (@fastify/under-pressure)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack('pressure', { api: false });
    // Any heap is over 1 byte: from the first 1 s sample on, the process is under pressure.
    stack.api = await startApp('api', { ...stack.env, API_MAX_HEAP_BYTES: '1' });
  });
  afterAll(async () => stack?.close());

  it('sheds the message routes with 503 OVERLOADED and Retry-After, and still answers /health/* and /metrics', async () => {
    const api = stack.api!.url;
    const { apiKey } = await stack.tenant('enterprise');
    const shed = await waitFor(
      () => send(api, apiKey, 'POST', '/v1/messages', message('critical')),
      (r) => r.status !== 202,
      10_000,
    );
    expect(shed.status).toBe(503);
    expect(shed.body).toEqual({
      error: {
        code: 'OVERLOADED',
        message: expect.stringContaining('under pressure'),
        details: [],
        requestId: shed.headers.get('x-request-id'),
      },
    });
    expect(shed.headers.get('retry-after')).toBe('2');
    expect((await send(api, apiKey, 'GET', '/v1/messages')).status).toBe(503);
    expect((await send(api, null, 'GET', '/health/live')).status).toBe(200);
    expect((await send(api, null, 'GET', '/health/ready')).status).toBe(200);
    const metrics = await send(api, null, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/esh3ar_messages_refused_total\{[^}]*reason="pressure"[^}]*\} [1-9]/);
  });
});

describe('Redis unreachable', () => {
  let stack: Stack;
  let redisDir: string;
  let redis: ReturnType<typeof spawn>;

  beforeAll(async () => {
    // A private Redis, so that stopping it disturbs no other test.
    const port = await freePort();
    redisDir = mkdtempSync(join(tmpdir(), 'esh3ar-redis-'));
    // Durable as production runs it: the api refuses a Redis without AOF (guardRedisDurability).
    redis = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        redisDir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--maxmemory-policy',
        'noeviction',
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise<void>((resolve) =>
      redis.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('Ready to accept connections') && resolve()),
    );
    stack = await startStack('redis-down', { redisUrl: `redis://127.0.0.1:${port}`, api: false });
    stack.api = await startApp('api', stack.env);
  });
  afterAll(async () => {
    await stack?.close();
    redis?.kill('SIGKILL');
    rmSync(redisDir, { recursive: true, force: true });
  });

  it('answers 503 UNAVAILABLE with Retry-After, quickly, and /health/ready says so', async () => {
    const api = stack.api!.url;
    const { apiKey } = await stack.tenant();
    expect((await send(api, apiKey, 'POST', '/v1/messages', message('normal'))).status).toBe(202);
    redis.kill('SIGKILL');
    await once(redis, 'exit');
    const r = await send(api, apiKey, 'POST', '/v1/messages', message('critical'));
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('UNAVAILABLE');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const ready = await send(api, null, 'GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.status).toBe('unavailable');
  });
});
