import {
  checkStored,
  send,
  startLoad,
  startPrivatePostgres,
  startApp,
  startPrivateRedis,
  startStack,
  waitFor,
  type AppProcess,
  type LoadResult,
  type PrivatePostgres,
  type PrivateRedis,
  type Stack,
} from '@esh3ar/stack';
import { afterEach, describe, expect, it } from 'vitest';

// Crashes of the services themselves, under load, on servers of the test's own:
// killing them disturbs no other test file.
let pg: PrivatePostgres | undefined;
let redis: PrivateRedis | undefined;
let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  await redis?.destroy();
  pg?.destroy();
  stack = undefined;
  redis = undefined;
  pg = undefined;
});

const FAST_RECOVERY = { WORKER_LOCK_DURATION_MS: '2000', WORKER_RETRY_BASE_MS: '50', WORKER_RETRY_MAX_MS: '1000', LOG_LEVEL: 'debug' };
const SENDERS = 200;

const alive = (p: AppProcess) => p.child.exitCode === null && p.child.signalCode === null;
const storedAfter = (since: number) => (l: Record<string, unknown>) => l.msg === 'batch stored' && Date.parse(String(l.time)) > since;

async function startCrashStack(label: string): Promise<{ stack: Stack; apiKey: string }> {
  pg = await startPrivatePostgres();
  redis = await startPrivateRedis();
  stack = await startStack(label, { databaseUrl: pg.url, redisUrl: redis.url, workers: 2, env: FAST_RECOVERY });
  const { apiKey } = await stack.tenant('enterprise', { rpm: 10_000_000, burst: 10_000_000 });
  return { stack, apiKey };
}

/** Every id answered 202 stored once, byte-exact; the buffer empty; every process alive. */
async function expectPromiseKept(s: Stack, result: LoadResult, tag: string): Promise<void> {
  const check = await waitFor(
    () => checkStored(s.pool, result.accepted, tag),
    (c) => c.missing.length === 0,
    90_000,
    250,
  );
  expect(check.stored).toBe(result.accepted.size);
  expect(check.duplicates).toBe(0);
  expect(check.altered).toEqual([]);
  expect(check.unaccepted).toBe(0);
  const ready = await waitFor(
    () => send(s.api!.url, null, 'GET', '/health/ready'),
    (r) => r.body?.checks?.buffer?.depth === 0,
    30_000,
    100,
  );
  expect(ready.body.checks.buffer.depth).toBe(0);
  for (const p of [s.api!, ...s.workers]) expect(alive(p), `${p.name} ${p.pid} alive`).toBe(true);
}

function report(name: string, figures: Record<string, unknown>): void {
  // The figures a reader of the test output (and the release note) wants.
  console.info(`[crash] ${name}: ${JSON.stringify(figures)}`);
}

describe('PostgreSQL crashes (pg_ctl stop -m immediate) under load', () => {
  it('every process stays up, reports not ready, resumes by itself, and every 202 is stored exactly once', async () => {
    const { stack: s, apiKey } = await startCrashStack('pg-crash');
    const tag = 'pgcrash';
    const load = startLoad({ senders: SENDERS, apiUrl: () => s.api!.url, apiKey, tag });
    await load.acceptedMore(3000);
    await Promise.all(s.workers.map((w) => w.waitForLog((l) => l.msg === 'batch stored')));

    pg!.crash();
    const crashedAt = Date.now();
    // Accepting goes on: the buffer is Redis, and the tenant's key is cached.
    await load.acceptedMore(2000);
    for (const w of s.workers) {
      const ready = await waitFor(
        () => send(w.url, null, 'GET', '/health/ready'),
        (r) => r.status === 503,
        20_000,
        100,
      );
      expect(ready.body.checks.postgres).toMatch(/^error/);
    }
    // Down long enough that each worker has tried, and failed, to store batches.
    await Promise.all(
      s.workers.map((w) =>
        w.waitForLog((l) => l.msg === 'batch not stored; its jobs will be retried' && Date.parse(String(l.time)) > crashedAt),
      ),
    );
    await load.acceptedMore(1000);
    pg!.start();
    const restartedAt = Date.now();
    const resumed = await Promise.all(s.workers.map((w) => w.waitForLog(storedAfter(restartedAt), 30_000)));
    const resumeSeconds = resumed.map((l) => (Date.parse(String(l.time)) - restartedAt) / 1000);
    await load.acceptedMore(2000);
    const result = await load.stop();

    await expectPromiseKept(s, result, tag);
    report('postgres immediate shutdown', {
      accepted: result.accepted.size,
      refused: Object.fromEntries(result.refused),
      unanswered: result.unanswered,
      downSeconds: (restartedAt - crashedAt) / 1000,
      resumeSeconds,
    });
    for (const seconds of resumeSeconds) expect(seconds).toBeLessThan(5);
  });
});

describe('Redis killed (SIGKILL, AOF appendfsync always) under load', () => {
  it('every process stays up, refuses with 503 meanwhile, resumes by itself, and every 202 is stored exactly once', async () => {
    const { stack: s, apiKey } = await startCrashStack('redis-crash');
    const tag = 'rediscrash';
    const load = startLoad({ senders: SENDERS, apiUrl: () => s.api!.url, apiKey, tag });
    await load.acceptedMore(3000);

    await redis!.kill();
    const killedAt = Date.now();
    const apiReady = await waitFor(
      () => send(s.api!.url, null, 'GET', '/health/ready'),
      (r) => r.status === 503,
      20_000,
      100,
    );
    expect(apiReady.body.checks.redis).toMatch(/^error/);
    for (const w of s.workers)
      await waitFor(
        () => send(w.url, null, 'GET', '/health/ready'),
        (r) => r.status === 503,
        20_000,
        100,
      );
    const acceptedBeforeRestart = load.acceptedCount;
    await redis!.start();
    const restartedAt = Date.now();
    // Resumed: the api accepts again and each worker stores again.
    await load.acceptedMore(1);
    const acceptingSeconds = (Date.now() - restartedAt) / 1000;
    const resumed = await Promise.all(s.workers.map((w) => w.waitForLog(storedAfter(restartedAt), 30_000)));
    const resumeSeconds = resumed.map((l) => (Date.parse(String(l.time)) - restartedAt) / 1000);
    await load.acceptedMore(2000);
    const result = await load.stop();

    expect(result.refused.get(503) ?? 0).toBeGreaterThan(0);
    await expectPromiseKept(s, result, tag);
    report('redis SIGKILL', {
      accepted: result.accepted.size,
      acceptedBeforeRestart,
      refused: Object.fromEntries(result.refused),
      unanswered: result.unanswered,
      downSeconds: (restartedAt - killedAt) / 1000,
      acceptingSeconds,
      resumeSeconds,
    });
    expect(acceptingSeconds).toBeLessThan(5);
    for (const seconds of resumeSeconds) expect(seconds).toBeLessThan(5);
  });
});

describe('PostgreSQL and Redis refusing connections when the processes start', () => {
  it('the api and a worker start, report not ready, and become ready by themselves once both answer', async () => {
    pg = await startPrivatePostgres();
    redis = await startPrivateRedis();
    stack = await startStack('refused-at-start', { databaseUrl: pg.url, redisUrl: redis.url, api: false, env: FAST_RECOVERY });
    const s = stack;
    const { apiKey } = await s.tenant('enterprise');
    pg.stop();
    await redis.kill();

    const [api, worker] = await Promise.all([startApp('api', s.env), startApp('worker', s.env, { readyMsg: 'ops server listening' })]);
    s.api = api;
    s.workers.push(worker);
    for (const p of [api, worker]) {
      expect((await send(p.url, null, 'GET', '/health/live')).status).toBe(200);
      expect((await send(p.url, null, 'GET', '/health/ready')).status).toBe(503);
    }
    // Not ready, and waiting: the worker retries its migrations, the api answers 503.
    await worker.waitForLog((l) => l.msg === 'PostgreSQL unreachable; migrations wait for it');
    const refused = await send(api.url, apiKey, 'POST', '/v1/messages', { recipient: '+966501234567', content: 'too early' });
    expect(refused.status).toBe(503);

    pg.start();
    await redis.start();
    const answeredAt = Date.now();
    await Promise.all(
      [api, worker].map((p) =>
        waitFor(
          () => send(p.url, null, 'GET', '/health/ready'),
          (r) => r.status === 200,
          30_000,
          100,
        ),
      ),
    );
    const readySeconds = (Date.now() - answeredAt) / 1000;
    const accepted = await send(api.url, apiKey, 'POST', '/v1/messages', { recipient: '+966501234567', content: 'refused at start 1' });
    expect(accepted.status).toBe(202);
    const check = await waitFor(
      () => checkStored(s.pool, new Map([[accepted.body.id as string, 'refused at start 1']]), 'refused at start'),
      (c) => c.missing.length === 0,
    );
    expect(check.duplicates).toBe(0);
    report('services refusing at start-up', { readySeconds });
    expect(readySeconds).toBeLessThan(5);
  });
});

describe('the api and a worker killed (SIGKILL) under load', () => {
  it('an api restarted and a worker replaced: every 202 is stored exactly once', async () => {
    const { stack: s, apiKey } = await startCrashStack('process-kill');
    const tag = 'prockill';
    const load = startLoad({ senders: SENDERS, apiUrl: () => s.api!.url, apiKey, tag });
    await load.acceptedMore(2000);

    // The api dies with requests in flight; those answered 202 before are in Redis.
    const killedApi = s.api!;
    await killedApi.stop('SIGKILL');
    s.api = await startApp('api', s.env);
    await load.acceptedMore(2000);

    // A worker dies with batches in hand; its jobs stall and the other worker takes them.
    const [victim] = s.workers.splice(0, 1);
    await victim!.waitForLog(storedAfter(Date.now()));
    expect((await victim!.stop('SIGKILL')).signal).toBe('SIGKILL');
    await s.startWorker();
    await load.acceptedMore(2000);
    const result = await load.stop();

    await expectPromiseKept(s, result, tag);
    report('api and worker SIGKILL', {
      accepted: result.accepted.size,
      refused: Object.fromEntries(result.refused),
      unanswered: result.unanswered,
    });
  });
});
