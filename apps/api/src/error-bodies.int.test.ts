import { EventEmitter, on } from 'node:events';
import { Writable } from 'node:stream';
import { createDatabase, createTenant, type ThrowawayDatabase } from '@esh3ar/db';
import { startPrivatePostgres, startPrivateRedis, waitFor, uniquePrefix, type PrivatePostgres, type PrivateRedis } from '@esh3ar/stack';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';

/*
 * What an unauthenticated caller learns when something breaks: a request id to quote,
 * never a host, a port or a driver's words. PostgreSQL and Redis of this file's own are
 * stopped for real under the real app in-process (inject, in-process-app.test-kit.ts),
 * whose log lines the test reads.
 */
let postgres: PrivatePostgres;
let redis: PrivateRedis;
let db: ThrowawayDatabase;
let app: InProcessApp;
let apiKey: string;

const message = { recipient: '+966501234567', content: 'hi' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** What drivers put in their errors: addresses, ports, socket codes, PostgreSQL's wording. */
const DRIVER_TEXT =
  /127\.0\.0\.1|localhost|:\d{2,5}\b|ECONN|EPIPE|ETIMEDOUT|connect |terminat|administrator|Connection is closed|SQL|relation /i;

/** The app's log lines, as JSON, in the order it wrote them. */
const logs: Record<string, unknown>[] = [];
const logged = new EventEmitter();
const logger = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      const line = JSON.parse(chunk.toString()) as Record<string, unknown>;
      logs.push(line);
      logged.emit('line', line);
      done();
    },
  }),
);

/** The first log line `predicate` accepts, waiting up to 5 s for the app to write it. */
async function waitForLog(predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  const seen = logs.find(predicate);
  if (seen !== undefined) return seen;
  for await (const [line] of on(logged, 'line', { signal: AbortSignal.timeout(5000) })) {
    if (predicate(line as Record<string, unknown>)) return line as Record<string, unknown>;
  }
  throw new Error('the log ended');
}

beforeAll(async () => {
  [postgres, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
  db = await createDatabase(postgres.url, 'error-bodies');
  app = await startInProcessApp({ databaseUrl: db.url, redisUrl: redis.url, prefix: uniquePrefix('error-bodies'), logger });
  ({ apiKey } = await createTenant(app.pool, { name: 'error-bodies', tier: 'enterprise' }));
  // Verified once: the api answers this key from memory while PostgreSQL is down.
  expect((await send(apiKey, 'POST', '/v1/messages', message)).status).toBe(202);
});
afterAll(async () => {
  await app?.close();
  await db?.drop();
  postgres?.destroy();
  await redis?.destroy();
});

const send = (...args: Parameters<InProcessApp['send']>) => app.send(...args);

/** The api's log lines for one request id. */
const linesOf = (requestId: string) => logs.filter((l) => l.reqId === requestId);

describe('request ids', () => {
  it('every answer carries x-request-id: the caller’s when well formed, a UUID otherwise', async () => {
    for (const [method, path, key] of [
      ['GET', '/health/live', null],
      ['GET', '/nowhere', null],
      ['POST', '/v1/messages', null],
      ['POST', '/v1/messages', apiKey],
    ] as const) {
      const r = await send(key, method, path, method === 'POST' ? message : undefined);
      expect(r.headers.get('x-request-id'), `${method} ${path}`).toMatch(UUID);
      if (r.status >= 400) expect(r.body.error.requestId).toBe(r.headers.get('x-request-id'));
    }
    const traced = await send(apiKey, 'POST', '/v1/messages', message, { 'x-request-id': 'edge-7f3a:2026.11.22_1' });
    expect(traced.headers.get('x-request-id')).toBe('edge-7f3a:2026.11.22_1');
    // Spaces and quotes could forge log lines; 129 characters is more than any id scheme needs.
    for (const forged of ['a b', 'x"}, "level": 60', 'é', 'a'.repeat(129)]) {
      const r = await send(null, 'GET', '/v1/messages', undefined, { 'x-request-id': forged });
      expect(r.headers.get('x-request-id')).toMatch(UUID);
      expect(r.body.error.requestId).toBe(r.headers.get('x-request-id'));
    }
  });

  it('a 401 names its scheme (WWW-Authenticate: Bearer realm="esh3ar") and carries the request id', async () => {
    for (const key of [null, 'esh_not-a-real-key']) {
      const r = await send(key, 'GET', '/v1/messages');
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm="esh3ar"/);
      expect(r.body).toEqual({
        error: { code: 'UNAUTHENTICATED', message: expect.any(String), details: [], requestId: r.headers.get('x-request-id') },
      });
    }
  });
});

describe('503 UNAVAILABLE names no host, port or driver message; the log has the cause under the request id', () => {
  it('PostgreSQL down: a read says "the message store is unreachable"', async () => {
    postgres.stop();
    try {
      const r = await waitFor(
        () => send(apiKey, 'GET', '/v1/messages'),
        (a) => a.status === 503,
        10_000,
      );
      expect(r.body).toEqual({
        error: {
          code: 'UNAVAILABLE',
          message: 'the message store is unreachable; retry shortly',
          details: [],
          requestId: r.headers.get('x-request-id'),
        },
      });
      expect(r.headers.get('retry-after')).toBe('1');
      const logged = await waitForLog((l) => l.reqId === r.body.error.requestId && l.level === 40);
      expect(logged).toMatchObject({
        msg: 'request refused: a service it needs is unavailable',
        reason: 'the message store is unreachable; retry shortly',
      });
      expect(String(logged.cause)).toMatch(DRIVER_TEXT);
      const ready = await send(null, 'GET', '/health/ready');
      expect(ready.body.checks.postgres).toMatch(/^error: (unreachable|no answer within 1000 ms)$/);
    } finally {
      postgres.start();
    }
  });

  it('Redis down: a send and a read say only that a service is unreachable', async () => {
    await waitFor(
      () => send(apiKey, 'GET', '/v1/messages'),
      (a) => a.status === 200,
      10_000,
    );
    await redis.kill();
    try {
      for (const [method, path] of [
        ['POST', '/v1/messages'],
        ['GET', '/v1/messages'],
        ['GET', '/v1/messages/01937a6e-0000-7000-8000-000000000000'],
      ] as const) {
        const r = await send(apiKey, method, path, method === 'POST' ? message : undefined);
        expect(r.status, `${method} ${path}`).toBe(503);
        expect(r.body.error).toMatchObject({
          code: 'UNAVAILABLE',
          message: expect.stringMatching(/^[a-z ]+ is unreachable; retry shortly$/),
          details: [],
          requestId: r.headers.get('x-request-id'),
        });
        expect(JSON.stringify(r.body)).not.toMatch(DRIVER_TEXT);
        // The driver's error (ioredis: "Stream isn't writeable…", or a connection refused) is in the log, not the answer.
        const logged = await waitForLog((l) => l.reqId === r.body.error.requestId && l.level === 40);
        expect(logged.cause).toEqual(expect.stringMatching(/\w/));
        expect(JSON.stringify(r.body)).not.toContain(logged.cause);
        expect(linesOf(r.body.error.requestId)).toHaveLength(1);
      }
      const ready = await send(null, 'GET', '/health/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.checks.redis).toMatch(/^error: (unreachable|no answer within 1000 ms)$/);
    } finally {
      await redis.start();
    }
  });
});
