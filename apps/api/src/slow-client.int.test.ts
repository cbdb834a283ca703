import { once } from 'node:events';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDatabase, createTenant } from '@esh3ar/db';
import { deletePrefix, uniquePrefix } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';

/*
 * Clients that hold a connection without finishing their request (slowloris): a raw TCP
 * socket against the api listening in-process, with timeouts in hundreds of
 * milliseconds instead of seconds so that the test takes as long as the attack.
 */
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const HEADERS_MS = 300;
const REQUEST_MS = 600;
// Node's sweep over open connections runs every min(1000, API_HEADERS_TIMEOUT_MS) ms (http-limits.ts).
const SWEEP_MS = HEADERS_MS;
// Scheduling slack on a loaded 2-core machine.
const SLACK_MS = 1500;

interface Listening {
  api: InProcessApp;
  port: number;
  apiKey: string;
}
const cleanups: (() => Promise<unknown>)[] = [];

async function listen(label: string, env: Record<string, string>): Promise<Listening> {
  const db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', label);
  const prefix = uniquePrefix(label);
  cleanups.push(
    () => db.drop(),
    () => deletePrefix(redisUrl, prefix),
  );
  const api = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix, env });
  cleanups.push(() => api.close());
  await api.app.listen({ host: '127.0.0.1', port: 0 });
  const { apiKey } = await createTenant(api.pool, { name: label, tier: 'enterprise', rpm: null, burst: null });
  return { api, port: (api.app.server.address() as AddressInfo).port, apiKey };
}

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A raw connection; `closed` resolves with everything the server sent and when it hung up. */
async function open(port: number) {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const openedAt = performance.now();
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  socket.on('error', () => undefined); // a reset after the server's answer is part of being cut off
  const closed = once(socket, 'close').then(() => ({ received, afterMs: performance.now() - openedAt }));
  return { socket, closed };
}

/** Writes `chunk` every `everyMs` until the socket closes: the attacker's trickle. */
function trickle(socket: Socket, chunk: string, everyMs: number): void {
  const timer = setInterval(() => socket.writable && socket.write(chunk), everyMs);
  socket.once('close', () => clearInterval(timer));
}

async function refusals(api: InProcessApp, limit: string): Promise<number> {
  const line = (await api.registry.metrics())
    .split('\n')
    .find((l) => l.startsWith('esh3ar_api_limit_refusals_total{') && l.includes(`limit="${limit}"`));
  return Number(line?.split(' ').at(-1) ?? 0);
}

describe('headers and request timeouts (API_HEADERS_TIMEOUT_MS, API_REQUEST_TIMEOUT_MS)', () => {
  let server: Listening;
  beforeAll(async () => {
    server = await listen('slow-client', {
      API_HEADERS_TIMEOUT_MS: String(HEADERS_MS),
      API_REQUEST_TIMEOUT_MS: String(REQUEST_MS),
      API_CONNECTION_TIMEOUT_MS: '30000',
      API_KEEP_ALIVE_TIMEOUT_MS: '30000',
    });
  });

  it('cuts off a client that sends its headers, then trickles the body a byte every 50 ms: 408 and closed at the request timeout', async () => {
    const before = await refusals(server.api, 'request_timeout');
    const { socket, closed } = await open(server.port);
    const body = JSON.stringify({ recipient: '+966501234567', content: 'x'.repeat(200) });
    socket.write(
      `POST /v1/messages HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer ${server.apiKey}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
    );
    trickle(socket, 'x', 50);
    const { received, afterMs } = await closed;
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(received).not.toMatch(/^HTTP\/1\.1 202 /m); // not /202/: the request id may contain it
    // The one error body, with the request id it also has as a header.
    const [head = '', text = ''] = received.split('\r\n\r\n');
    const id = /x-request-id: (\S+)/i.exec(head)?.[1];
    expect(JSON.parse(text)).toEqual({ error: { code: 'REQUEST_TIMEOUT', message: expect.any(String), details: [], requestId: id } });
    expect(afterMs).toBeGreaterThanOrEqual(REQUEST_MS - 50);
    expect(afterMs).toBeLessThan(REQUEST_MS + SWEEP_MS + SLACK_MS);
    expect((await refusals(server.api, 'request_timeout')) - before).toBe(1);
  });

  it('answers malformed HTTP and oversized headers with 400 and 431 in the one error body', async () => {
    for (const [request, status, code] of [
      ['NOT HTTP AT ALL\r\n\r\n', 400, 'INVALID_REQUEST'],
      [`GET /health/live HTTP/1.1\r\nHost: api\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
    ] as const) {
      const { socket, closed } = await open(server.port);
      socket.write(request);
      const { received } = await closed;
      expect(received).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      const text = received.split('\r\n\r\n')[1] ?? '';
      expect(JSON.parse(text)).toMatchObject({ error: { code, details: [], requestId: expect.any(String) } });
    }
  });

  it('cuts off a client that trickles its headers a line every 50 ms: 408 at the headers timeout', async () => {
    const { socket, closed } = await open(server.port);
    socket.write('GET /health/live HTTP/1.1\r\nHost: api\r\n');
    trickle(socket, 'X-Slow: a\r\n', 50);
    const { received, afterMs } = await closed;
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(afterMs).toBeGreaterThanOrEqual(HEADERS_MS - 50);
    expect(afterMs).toBeLessThan(HEADERS_MS + SWEEP_MS + SLACK_MS);
  });

  it('closes a connection that never sends a byte by the headers timeout', async () => {
    const { closed } = await open(server.port);
    const { afterMs } = await closed;
    expect(afterMs).toBeLessThan(HEADERS_MS + SWEEP_MS + SLACK_MS);
  });

  it('still serves a keep-alive client that was idle longer than the headers timeout (the keep-alive timeout governs idle connections)', async () => {
    const { socket, closed } = await open(server.port);
    const answer = () => new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    socket.write('GET /health/live HTTP/1.1\r\nHost: api\r\n\r\n');
    expect(await answer()).toMatch(/^HTTP\/1\.1 200 /);
    // The idle time is what is under test, so the client waits: twice the headers timeout.
    await sleep(2 * HEADERS_MS + SWEEP_MS);
    socket.write('GET /health/live HTTP/1.1\r\nHost: api\r\n\r\n');
    expect(await answer()).toMatch(/^HTTP\/1\.1 200 /);
    socket.end();
    await closed;
  });
});

describe('connection timeout (API_CONNECTION_TIMEOUT_MS)', () => {
  it('drops a client that stalls halfway through its body, without waiting for the request timeout', async () => {
    const CONNECTION_MS = 300;
    const server = await listen('stalled-client', {
      API_CONNECTION_TIMEOUT_MS: String(CONNECTION_MS),
      API_HEADERS_TIMEOUT_MS: '5000',
      API_REQUEST_TIMEOUT_MS: '10000',
    });
    const { socket, closed } = await open(server.port);
    socket.write(
      `POST /v1/messages HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer ${server.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"recip`,
    );
    const { received, afterMs } = await closed;
    expect(received).toBe('');
    expect(afterMs).toBeGreaterThanOrEqual(CONNECTION_MS - 50);
    expect(afterMs).toBeLessThan(CONNECTION_MS + SLACK_MS);
    await expect.poll(() => refusals(server.api, 'idle_timeout')).toBe(1);
  });
});
