import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Esh3arClient, Esh3arError, type Esh3arClientOptions } from './index.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** performance.now() when the request was complete… */
  at: number;
  /** …and Date.now(), the clock an HTTP-date is read on. */
  wall: number;
}

type Answer = (res: ServerResponse) => void;

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Answer =>
  (res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  };
const apiError = (status: number, code: string, headers: Record<string, string> = {}, details: unknown[] = []) =>
  json(status, { error: { code, message: `${code} (test)`, details, requestId: 'req-body' } }, headers);
const accepted = json(202, { id: '0190f2d4-0000-7000-8000-000000000001', status: 'queued', acceptedAt: '2026-11-23T10:00:00.000Z' });
/** The connection is cut before any answer. */
const hangUp: Answer = (res) => res.socket?.destroy();
/** No answer until the server closes. */
const silence: Answer = () => undefined;

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/**
 * A server answering its n-th request with `answers[n]` (the last one for every request
 * after), recording each request and when each answer went out.
 */
async function scripted(...answers: Answer[]) {
  const seen: Seen[] = [];
  const answeredAt: number[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body, at: performance.now(), wall: Date.now() });
      res.on('finish', () => answeredAt.push(performance.now()));
      answers[Math.min(seen.length, answers.length) - 1]!(res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const handle = {
    baseUrl,
    seen,
    answeredAt,
    client: (options: Partial<Esh3arClientOptions> = {}) =>
      new Esh3arClient({ baseUrl, apiKey: 'key_test', ...options, retry: { baseDelayMs: 1, maxDelayMs: 5, ...options.retry } }),
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  servers.push(handle);
  return handle;
}

async function failure(promise: Promise<unknown>): Promise<Esh3arError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Esh3arError);
  return error as Esh3arError;
}

const message = { recipient: '+966501234567', content: 'hello' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('Esh3arClient against a local HTTP server: retries', () => {
  it('waits out Retry-After in seconds after a 429, then resends under the same Idempotency-Key', async () => {
    const server = await scripted(apiError(429, 'RATE_LIMITED', { 'retry-after': '1' }), accepted);
    expect(await server.client().send(message)).toEqual({
      id: '0190f2d4-0000-7000-8000-000000000001',
      status: 'queued',
      acceptedAt: '2026-11-23T10:00:00.000Z',
    });
    expect(server.seen).toHaveLength(2);
    // Timers fire on whole milliseconds: a 1000 ms wait can show as 999.x on performance.now().
    expect(server.seen[1]!.at - server.answeredAt[0]!).toBeGreaterThanOrEqual(999);
    const [first, second] = server.seen.map((s) => s.headers['idempotency-key']);
    expect(first).toMatch(UUID);
    expect(second).toBe(first);
    expect(server.seen.map((s) => JSON.parse(s.body))).toEqual([message, message]);
  });

  it('waits out Retry-After as an HTTP-date after a 503', async () => {
    // Whole seconds, 1 to 2 s ahead: the retry must not come before that second.
    const until = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
    const server = await scripted(apiError(503, 'OVERLOADED', { 'retry-after': until.toUTCString() }), accepted);
    await server.client().send(message);
    expect(server.seen).toHaveLength(2);
    expect(server.seen[1]!.wall).toBeGreaterThanOrEqual(until.getTime());
  });

  it('gives up after maxAttempts, throwing the last answer with its retryAfter', async () => {
    const server = await scripted(apiError(503, 'UNAVAILABLE', { 'retry-after': '0', 'x-request-id': 'req-header' }));
    const error = await failure(server.client({ retry: { maxAttempts: 3 } }).send(message));
    expect(server.seen).toHaveLength(3);
    expect(error).toMatchObject({
      status: 503,
      code: 'UNAVAILABLE',
      retryAfter: 0,
      requestId: 'req-header',
      message: 'UNAVAILABLE (test)',
    });
    expect(new Set(server.seen.map((s) => s.headers['idempotency-key'])).size).toBe(1);
  });

  it('backs off without Retry-After, and maxAttempts 1 turns retries off', async () => {
    const server = await scripted(apiError(503, 'OVERLOADED'));
    const error = await failure(server.client({ retry: { maxAttempts: 4 } }).list());
    expect(error).toMatchObject({ status: 503, code: 'OVERLOADED', retryAfter: undefined });
    expect(server.seen).toHaveLength(4);
    await failure(server.client({ retry: { maxAttempts: 1 } }).list());
    expect(server.seen).toHaveLength(5);
  });

  it('does not wait out a Retry-After over maxRetryAfterSeconds: the caller gets it', async () => {
    const server = await scripted(apiError(429, 'RATE_LIMITED', { 'retry-after': '60' }), accepted);
    const error = await failure(server.client().send(message));
    expect(error).toMatchObject({ status: 429, code: 'RATE_LIMITED', retryAfter: 60 });
    expect(server.seen).toHaveLength(1);
  });

  it.each([
    [400, 'VALIDATION_FAILED'],
    [401, 'UNAUTHENTICATED'],
    [404, 'NOT_FOUND'],
    [409, 'CONFLICT'],
    [413, 'PAYLOAD_TOO_LARGE'],
    [422, 'IDEMPOTENCY_KEY_REUSED'],
    [500, 'INTERNAL'],
  ])('does not retry %d %s', async (status, code) => {
    const details = [{ path: '/recipient', message: 'must be E.164' }];
    const server = await scripted(apiError(status, code, {}, details), accepted);
    const error = await failure(server.client().send(message));
    expect(server.seen).toHaveLength(1);
    // Without an x-request-id header, the body's requestId.
    expect(error).toMatchObject({ name: 'Esh3arError', status, code, details, requestId: 'req-body', retryAfter: undefined });
  });

  it('retries a cut connection, under the same Idempotency-Key', async () => {
    const server = await scripted(hangUp, hangUp, accepted);
    await server.client().sendBatch([message, message]);
    expect(server.seen).toHaveLength(3);
    expect(new Set(server.seen.map((s) => s.headers['idempotency-key'])).size).toBe(1);
    expect(server.seen.every((s) => s.url === '/v1/messages/batch')).toBe(true);
  });

  it('throws NETWORK_ERROR, status 0, when no attempt gets through', async () => {
    const server = await scripted(hangUp);
    const error = await failure(server.client({ retry: { maxAttempts: 2 } }).get('x'));
    expect(error).toMatchObject({ status: 0, code: 'NETWORK_ERROR', message: 'request failed: fetch failed (UND_ERR_SOCKET)' });
    expect(error.cause).toBeInstanceOf(Error);
    expect(server.seen).toHaveLength(2);
  });

  it('times an attempt out with AbortSignal.timeout and retries it', async () => {
    const server = await scripted(silence, accepted);
    await server.client({ timeoutMs: 200 }).send(message, { idempotencyKey: 'order-42' });
    expect(server.seen.map((s) => s.headers['idempotency-key'])).toEqual(['order-42', 'order-42']);
  });

  it('throws TIMEOUT when every attempt times out', async () => {
    const server = await scripted(silence);
    const error = await failure(server.client({ timeoutMs: 100, retry: { maxAttempts: 2 } }).get('x'));
    expect(error).toMatchObject({ status: 0, code: 'TIMEOUT', message: 'no answer within 100 ms' });
    expect(server.seen).toHaveLength(2);
  });

  it('throws UNEXPECTED_RESPONSE for an answer that is not the api’s JSON, retrying it only for its status', async () => {
    const page =
      (status: number): Answer =>
      (res) =>
        res.writeHead(status, { 'content-type': 'text/html' }).end('<h1>Bad Gateway</h1>');
    const proxy = await scripted(page(502));
    expect(await failure(proxy.client().get('x'))).toMatchObject({ status: 502, code: 'UNEXPECTED_RESPONSE' });
    expect(proxy.seen).toHaveLength(1);

    const draining = await scripted(page(503), json(200, { items: [], nextCursor: null }));
    expect(await draining.client().list()).toEqual({ items: [], nextCursor: null });
    expect(draining.seen).toHaveLength(2);

    const garbled = await scripted((res) => res.writeHead(202).end('{"id":'));
    expect(await failure(garbled.client().send(message))).toMatchObject({ status: 202, code: 'UNEXPECTED_RESPONSE' });
    expect(garbled.seen).toHaveLength(1);
  });
});

describe('Esh3arClient against a local HTTP server: requests', () => {
  it('sends the key as a Bearer token, JSON bodies, and an Idempotency-Key only on sends', async () => {
    const server = await scripted(json(200, {}));
    const client = server.client({ baseUrl: `${server.baseUrl}/` });
    await client.send(message);
    await client.sendBatch([message], { idempotencyKey: 'batch-7' });
    await client.get('a/b?c');
    await client.list();
    await client.list({ status: 'dead_letter', limit: 2, cursor: 'abc=/+' });
    await client.cancel('id-1');
    await client.cancelMany({ metadata: { campaign: 'c1' }, dryRun: true });
    expect(server.seen.map((s) => [s.method, s.url, s.headers['idempotency-key'] ?? null, s.body])).toEqual([
      ['POST', '/v1/messages', expect.stringMatching(UUID), JSON.stringify(message)],
      ['POST', '/v1/messages/batch', 'batch-7', JSON.stringify({ messages: [message] })],
      ['GET', '/v1/messages/a%2Fb%3Fc', null, ''],
      ['GET', '/v1/messages', null, ''],
      ['GET', '/v1/messages?status=dead_letter&limit=2&cursor=abc%3D%2F%2B', null, ''],
      ['DELETE', '/v1/messages/id-1', null, ''],
      ['POST', '/v1/messages/cancel', null, JSON.stringify({ metadata: { campaign: 'c1' }, dryRun: true })],
    ]);
    for (const s of server.seen) expect(s.headers.authorization).toBe('Bearer key_test');
    expect(server.seen.map((s) => s.headers['content-type'] ?? null)).toEqual([
      'application/json',
      'application/json',
      null,
      null,
      null,
      null,
      'application/json',
    ]);
  });

  it('gives every call of its own a new Idempotency-Key', async () => {
    const server = await scripted(accepted);
    const client = server.client();
    await client.send(message);
    await client.send(message);
    const [a, b] = server.seen.map((s) => s.headers['idempotency-key']);
    expect(a).not.toBe(b);
  });

  it('refuses to be built without a base URL or a key', () => {
    expect(() => new Esh3arClient({ baseUrl: '', apiKey: 'k' })).toThrow(TypeError);
    expect(() => new Esh3arClient({ baseUrl: 'http://x', apiKey: '' })).toThrow(TypeError);
  });
});
