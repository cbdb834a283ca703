import { send, startPrivatePostgres, startStack, waitFor, type PrivatePostgres, type Stack } from '@esh3ar/stack';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

const batchOf = (n: number, tag: string) => ({
  messages: Array.from({ length: n }, (_, i) => ({
    recipient: '+966501234567',
    content: `${tag} #${i}`,
    priority: (['low', 'normal', 'high', 'critical'] as const)[i % 4],
  })),
});

/** Sends `requests` batches of `size` concurrently; returns the ids answered 202. */
async function sendBatches(stack: Stack, apiKey: string, requests: number, size: number, tag: string): Promise<string[]> {
  const answers = await Promise.all(
    Array.from({ length: requests }, (_, r) => send(stack.api!.url, apiKey, 'POST', '/v1/messages/batch', batchOf(size, `${tag}-${r}`))),
  );
  return answers.flatMap((a) => {
    expect(a.status).toBe(202);
    return a.body.results.map((x: { id: string }) => x.id);
  });
}

async function storedIds(stack: Stack): Promise<string[]> {
  const { rows } = await stack.pool.query<{ id: string }>('SELECT id FROM messages');
  return rows.map((r) => r.id);
}

async function expectExactlyOnce(stack: Stack, accepted: string[]): Promise<void> {
  const stored = await waitFor(
    () => storedIds(stack),
    (ids) => ids.length >= accepted.length,
    90_000,
    200,
  );
  expect(stored.length).toBe(accepted.length);
  expect(new Set(stored)).toEqual(new Set(accepted));
  // The buffer is empty again: the index was cleared for every stored message.
  const ready = await waitFor(
    () => send(stack.api!.url, null, 'GET', '/health/ready'),
    (r) => r.body.checks.buffer.depth === 0,
  );
  expect(ready.body.checks.buffer.depth).toBe(0);
}

let stack: Stack | undefined;
let pg: PrivatePostgres | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});
afterAll(() => pg?.destroy());

const FAST_RECOVERY = { WORKER_LOCK_DURATION_MS: '2000', WORKER_RETRY_BASE_MS: '50', WORKER_RETRY_MAX_MS: '1000' };

describe('a worker killed with SIGKILL mid-batch', () => {
  it('loses nothing and stores nothing twice once workers run again', async () => {
    stack = await startStack('worker-sigkill', { env: { ...FAST_RECOVERY, LOG_LEVEL: 'debug', WORKER_BATCH_SIZE: '200' } });
    const { apiKey } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 });
    const accepted: string[] = [];
    // Three times: traffic flows, a worker stores a few batches, and is killed while more are in hand.
    for (let round = 0; round < 3; round++) {
      const worker = await stack.startWorker();
      const sending = sendBatches(stack, apiKey, 20, 100, `round${round}`);
      await worker.waitForLog((l) => l.msg === 'batch stored');
      const { signal } = await worker.stop('SIGKILL');
      expect(signal).toBe('SIGKILL');
      accepted.push(...(await sending));
      stack.workers.splice(stack.workers.indexOf(worker), 1);
    }
    const stored = await storedIds(stack);
    expect(stored.length).toBeLessThan(accepted.length); // the kills really left work behind
    await Promise.all([stack.startWorker(), stack.startWorker()]);
    await expectExactlyOnce(stack, accepted);
  });
});

describe('a worker stopped with SIGTERM', () => {
  it('finishes the batch in hand and exits 0; the rest is stored by the next worker', async () => {
    stack = await startStack('worker-sigterm', { env: { ...FAST_RECOVERY, LOG_LEVEL: 'debug', WORKER_BATCH_SIZE: '200' } });
    const { apiKey } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 });
    const worker = await stack.startWorker();
    const sending = sendBatches(stack, apiKey, 20, 100, 'term');
    await worker.waitForLog((l) => l.msg === 'batch stored');
    const { code } = await worker.stop('SIGTERM');
    expect(code).toBe(0);
    expect(worker.logs.some((l) => l.msg === 'stopped')).toBe(true);
    const accepted = await sending;
    await stack.startWorker();
    await expectExactlyOnce(stack, accepted);
  });
});

describe('PostgreSQL stopped for several seconds', () => {
  it('keeps accepting, and stores every accepted message after it returns', async () => {
    pg = await startPrivatePostgres();
    stack = await startStack('pg-outage', { databaseUrl: pg.url, workers: 1, env: FAST_RECOVERY });
    const { apiKey } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 });
    const accepted = await sendBatches(stack, apiKey, 5, 50, 'before');
    await waitFor(
      () => storedIds(stack!),
      (ids) => ids.length === accepted.length,
    );

    pg.stop();
    accepted.push(...(await sendBatches(stack, apiKey, 10, 50, 'during')));
    const worker = stack.workers[0]!;
    const outageStarted = Date.now();
    await worker.waitForLog((l) => l.msg === 'batch not stored; its jobs will be retried');
    const ready = await send(stack.api!.url, null, 'GET', '/health/ready');
    expect(ready.body.checks.postgres).toMatch(/^error/);
    expect(ready.body.checks.buffer.depth).toBeGreaterThan(0);
    accepted.push(...(await sendBatches(stack, apiKey, 5, 50, 'still-down')));
    // The outage itself is the scenario: it lasts at least 4 s, over several retries.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 4000 - (Date.now() - outageStarted))));
    expect(worker.logs.filter((l) => l.msg === 'batch not stored; its jobs will be retried').length).toBeGreaterThan(2);
    pg.start();

    await expectExactlyOnce(stack, accepted);
  });
});
