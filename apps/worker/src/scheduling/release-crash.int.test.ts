import { sampleBufferedMessage } from '@esh3ar/contracts';
import { storeBatch } from '@esh3ar/db';
import { send, startStack, waitFor, type Stack } from '@esh3ar/stack';
import { afterEach, describe, expect, it } from 'vitest';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function statusCounts(stack: Stack, ids: string[]): Promise<Record<string, number>> {
  const { rows } = await stack.pool.query<{ status: string; n: number }>(
    'SELECT status, count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[]) GROUP BY status',
    [ids],
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

/** Every message's `pending` events: exactly one each, none before its sendAt. */
async function expectReleasedOnce(stack: Stack, ids: string[]): Promise<void> {
  const { rows } = await stack.pool.query<{ id: string; releases: number; early: number }>(
    `SELECT m.id, count(e.id)::int AS releases, count(e.id) FILTER (WHERE e.at < m.send_at)::int AS early
     FROM messages m LEFT JOIN message_events e ON e.message_id = m.id AND e.status = 'pending'
     WHERE m.id = ANY($1::uuid[]) GROUP BY m.id`,
    [ids],
  );
  expect(rows).toHaveLength(ids.length);
  expect(rows.filter((r) => r.releases !== 1)).toEqual([]);
  expect(rows.filter((r) => r.early > 0)).toEqual([]);
}

describe('scheduled messages and a worker killed with SIGKILL', () => {
  it('survive the kill and are released by the next worker at their sendAt', async () => {
    stack = await startStack('release-sigkill', { workers: 1 });
    const { apiKey } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 });
    const sendAt = new Date(Date.now() + 4000).toISOString();
    const answer = await send(stack.api!.url, apiKey, 'POST', '/v1/messages/batch', {
      messages: Array.from({ length: 50 }, (_, i) => ({ recipient: '+966500000201', content: `later #${i}`, sendAt })),
    });
    expect(answer.status).toBe(202);
    const ids = (answer.body.results as { id: string }[]).map((r) => r.id);
    await waitFor(
      () => statusCounts(stack!, ids),
      (counts) => counts.scheduled === 50,
    );

    const [worker] = stack.workers;
    expect((await worker!.stop('SIGKILL')).signal).toBe('SIGKILL');
    await stack.startWorker();
    await waitFor(
      () => statusCounts(stack!, ids),
      (counts) => counts.pending === 50,
    );
    await expectReleasedOnce(stack, ids);
  });

  it('with two workers and one killed mid-release, every message reaches pending exactly once', async () => {
    // Rounds of 200: a backlog of 20,000 takes many rounds back to back, so the kill lands in one.
    stack = await startStack('release-sigkill-race', { api: false, env: { WORKER_BATCH_SIZE: '200', LOG_LEVEL: 'debug' } });
    const sendAt = new Date(Date.now() + 5000).toISOString();
    const messages = Array.from({ length: 20_000 }, (_, i) =>
      sampleBufferedMessage({
        channel: 'app',
        recipient: `+9665${String(i).padStart(8, '0')}`,
        priority: (['low', 'normal', 'high', 'critical'] as const)[i % 4],
      }),
    );
    for (let i = 0; i < messages.length; i += 1000) {
      await storeBatch(
        stack.pool,
        messages.slice(i, i + 1000).map((message) => ({ message, state: { status: 'scheduled', failureReason: null, sendAt } })),
      );
    }
    const ids = messages.map((m) => m.id);
    const [doomed, survivor] = await Promise.all([stack.startWorker(), stack.startWorker()]);

    await doomed.waitForLog((l) => l.msg === 'scheduled messages released', 30_000);
    expect((await doomed.stop('SIGKILL')).signal).toBe('SIGKILL');
    const atKill = await statusCounts(stack, ids);
    expect(atKill.scheduled ?? 0).toBeGreaterThan(0); // the kill came with work left

    await waitFor(
      () => statusCounts(stack!, ids),
      (counts) => counts.pending === ids.length,
      120_000,
      250,
    );
    await expectReleasedOnce(stack, ids);
    expect(survivor.logs.some((l) => l.msg === 'scheduled messages released')).toBe(true);
  });
});
