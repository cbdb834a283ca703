import { send, startApp, startStack, waitFor, type AppProcess, type Stack } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let stack: Stack;
let second: AppProcess | undefined;

beforeAll(async () => {
  stack = await startStack('api-reuse-port', { workers: 1, env: { API_REUSE_PORT: 'on' } });
});
afterAll(async () => {
  await second?.stop();
  await stack?.close();
});

describe('several api processes on one port (API_REUSE_PORT=on)', () => {
  it('a second process binds the same port and serves it alone once the first has stopped; every 202 is stored', async () => {
    const url = stack.api!.url;
    second = await startApp('api', { ...stack.env, API_PORT: String(stack.api!.port) });
    expect(second.port).toBe(stack.api!.port);
    const { apiKey } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 });
    const sendOne = async (i: number) => {
      // A new connection per request: the kernel picks a process for each.
      const r = await send(
        url,
        apiKey,
        'POST',
        '/v1/messages',
        { recipient: '+966501234567', content: `reuse ${i}` },
        { connection: 'close' },
      );
      expect(r.status).toBe(202);
      return r.body.id as string;
    };
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await sendOne(i));
    expect(await stack.api!.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    for (let i = 20; i < 40; i++) ids.push(await sendOne(i));
    const stored = () =>
      stack.pool
        .query<{ n: number }>('SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[])', [ids])
        .then((r) => r.rows[0]!.n);
    expect(await waitFor(stored, (n) => n === ids.length)).toBe(40);
  });
});
