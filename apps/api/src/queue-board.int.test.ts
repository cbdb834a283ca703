import { randomBytes } from 'node:crypto';
import { createDatabase, createTenant } from '@esh3ar/db';
import { deletePrefix, uniquePrefix } from '@esh3ar/stack';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';

/*
 * The queue board as someone with the admin token, or a page that frames it, would use
 * it: every action button's request, sent while a message answered 202 waits in the
 * ingest queue (no worker runs here). In-process against real PostgreSQL and Redis.
 */
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN_TOKEN = `adm_${randomBytes(24).toString('base64url')}`;
const BOARD = '/v1/admin/queues';
const cleanups: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function board(label: string, env: Record<string, string> = {}) {
  const db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', label);
  const prefix = uniquePrefix(label);
  cleanups.push(
    () => db.drop(),
    () => deletePrefix(redisUrl, prefix),
  );
  const api: InProcessApp = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix, adminToken: ADMIN_TOKEN, env });
  cleanups.push(() => api.close());
  const { apiKey } = await createTenant(api.pool, { name: label, tier: 'enterprise', rpm: null, burst: null });
  const admin = (method: 'GET' | 'PUT' | 'POST' | 'PATCH', url: string, payload?: object) =>
    api.app.inject({ method, url: `${BOARD}${url}`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, ...(payload ? { payload } : {}) });
  /** A message answered 202: one ingest job waiting in the buffer. */
  const accepted = async (): Promise<string> => {
    const r = await api.app.inject({
      method: 'POST',
      url: '/v1/messages',
      headers: { authorization: `Bearer ${apiKey}` },
      payload: { recipient: '+966501234567', content: 'hi' },
    });
    expect(r.statusCode).toBe(202);
    return r.json().id;
  };
  const ingest = async () =>
    (
      (await admin('GET', '/api/queues')).json().queues as {
        name: string;
        readOnlyMode: boolean;
        isPaused: boolean;
        counts: Record<string, number>;
      }[]
    ).find((q) => q.name === 'ingest')!;
  const status = async (id: string) =>
    (await api.app.inject({ method: 'GET', url: `/v1/messages/${id}`, headers: { authorization: `Bearer ${apiKey}` } })).json().status;
  return { api, admin, accepted, ingest, status };
}

function expectNotFramable(r: LightMyRequestResponse): void {
  expect(r.headers['x-frame-options']).toBe('DENY');
  expect(r.headers['content-security-policy']).toBe("frame-ancestors 'none'");
}

async function refusals(api: InProcessApp): Promise<number> {
  const line = (await api.registry.metrics())
    .split('\n')
    .find((l) => l.startsWith('esh3ar_api_limit_refusals_total{') && l.includes('limit="queue_board_write"'));
  return Number(line?.split(' ').at(-1) ?? 0);
}

describe('queue board: read-only unless QUEUE_BOARD_WRITE=on', () => {
  it('refuses every write click (405) and the message answered 202 stays in the buffer', async () => {
    const { api, admin, accepted, ingest, status } = await board('queue-board-read-only');
    const id = await accepted();
    const before = await ingest();
    expect(before.readOnlyMode).toBe(true);
    // The job holding it, as the board lists it (ingest jobs carry the message's priority).
    const listed = (await admin('GET', '/api/queues?activeQueue=ingest&status=prioritized&page=1')).json();
    const jobId = listed.queues.find((q: { name: string }) => q.name === 'ingest').jobs[0]?.id as string;
    expect(jobId, JSON.stringify(before.counts)).toBeTruthy();

    const clicks: ['PUT' | 'POST' | 'PATCH', string, object?][] = [
      ['PUT', '/api/queues/ingest/obliterate'],
      ['PUT', '/api/queues/ingest/empty'],
      ['PUT', '/api/queues/ingest/clean/waiting'],
      ['PUT', '/api/queues/ingest/retry/failed'],
      ['PUT', '/api/queues/ingest/promote'],
      ['PUT', '/api/queues/ingest/pause'],
      ['PUT', `/api/queues/ingest/${jobId}/clean`],
      ['PUT', `/api/queues/ingest/${jobId}/retry`],
      ['PATCH', `/api/queues/ingest/${jobId}/update-data`, { jobData: { messages: [] } }],
      ['POST', '/api/queues/ingest/add', { name: 'forged', data: { messages: [] } }],
    ];
    for (const [method, url, payload] of clicks) {
      const r = await admin(method, url, payload);
      expect(r.statusCode, `${method} ${url}: ${r.body.slice(0, 200)}`).toBe(405);
      expectNotFramable(r);
    }
    // "Pause all" skips read-only queues rather than refusing.
    expect((await admin('PUT', '/api/queues/pause')).statusCode).toBe(200);

    const after = await ingest();
    expect(after.isPaused).toBe(false);
    expect(after.counts).toEqual(before.counts);
    expect(await status(id)).toBe('queued');
    expect(await refusals(api)).toBe(clicks.length);
  });

  it("serves the page and its API with X-Frame-Options: DENY and frame-ancestors 'none', its 401 too", async () => {
    const { api, admin } = await board('queue-board-frames');
    for (const url of ['', '/', '/api/queues']) {
      const r = await admin('GET', url);
      expect(r.statusCode, url).toBe(200);
      expectNotFramable(r);
    }
    const anonymous = await api.app.inject({ method: 'GET', url: BOARD });
    expect(anonymous.statusCode).toBe(401);
    expectNotFramable(anonymous);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Basic /);
    expect(anonymous.json()).toEqual({
      error: { code: 'UNAUTHENTICATED', message: expect.any(String), details: [], requestId: anonymous.headers['x-request-id'] },
    });
  });

  it('with QUEUE_BOARD_WRITE=on the same click empties the queue', async () => {
    const { admin, accepted, ingest } = await board('queue-board-write', { QUEUE_BOARD_WRITE: 'on' });
    await accepted();
    expect((await ingest()).readOnlyMode).toBe(false);
    const r = await admin('PUT', '/api/queues/ingest/empty');
    expect(r.statusCode).toBe(200);
    expectNotFramable(r);
    expect((await ingest()).counts.waiting).toBe(0);
  });
});
