import http from 'node:http';
import type { Socket } from 'node:net';
import type { Latency, Target } from './load.ts';

export interface BurstResult {
  target: string;
  mode: 'new-connections' | 'keep-alive';
  requests: number;
  ok: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  /** Failed requests by error code (ECONNRESET, timeout, ...). */
  errors: Record<string, number>;
  /** Keep-alive connections opened before the clock started (0: each request opens its own). */
  preopenedConnections: number;
  /** TCP connections that completed their handshake during the burst. */
  connectionsOpened: number;
  /** Most connections open at the same moment, seen from this side. */
  peakOpenConnections: number;
  /** From writing the request (connecting first, for new connections) to the last byte of the answer. */
  latencyMs: Latency;
  /** Time to issue every request, and until the last one settled. */
  issueMs: number;
  wallMs: number;
}

// Long enough that a SYN dropped twice (retried after 1 s, then 3 s) still counts as slow, not lost.
const REQUEST_TIMEOUT_MS = 30_000;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/**
 * Sends `count` requests at once, all issued from one synchronous loop. With no
 * agent each request opens its own connection (`Connection: close`): the connection
 * storm a reconnecting fleet produces. With a keep-alive agent whose sockets are
 * already open, the same requests queue on those connections instead.
 */
async function fire(target: Target, count: number, agent: http.Agent | false, onAccepted?: (body: string) => void) {
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  const errors: Record<string, number> = {};
  let ok = 0;
  let opened = 0;
  let open = 0;
  let peak = 0;
  const { hostname, port } = new URL(target.url);
  const body = Buffer.from(target.body);
  const started = performance.now();

  const settled = Array.from({ length: count }, () => {
    const t0 = performance.now();
    return new Promise<void>((resolve) => {
      const request = http.request({
        hostname,
        port,
        path: target.path,
        method: 'POST',
        agent,
        headers: { ...target.headers, 'content-length': body.length, ...(agent === false ? { connection: 'close' } : {}) },
        timeout: REQUEST_TIMEOUT_MS,
      });
      request.on('socket', (socket: Socket) => {
        if (request.reusedSocket) return;
        socket.once('connect', () => {
          opened++;
          peak = Math.max(peak, ++open);
          socket.once('close', () => open--);
        });
      });
      request.on('timeout', () => request.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
      request.on('error', (error: NodeJS.ErrnoException) => {
        errors[error.code ?? error.message] = (errors[error.code ?? error.message] ?? 0) + 1;
        resolve();
      });
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          latencies.push(performance.now() - t0);
          const status = response.statusCode ?? 0;
          statusCodes[status] = (statusCodes[status] ?? 0) + 1;
          if (status >= 200 && status < 300) {
            ok++;
            onAccepted?.(Buffer.concat(chunks).toString());
          }
          resolve();
        });
        response.on('error', (error: NodeJS.ErrnoException) => {
          errors[error.code ?? error.message] = (errors[error.code ?? error.message] ?? 0) + 1;
          resolve();
        });
      });
      request.end(body);
    });
  });
  const issueMs = performance.now() - started;
  await Promise.all(settled);
  const wallMs = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return {
    target: target.name,
    requests: count,
    ok,
    non2xx: latencies.length - ok,
    statusCodes,
    errors,
    connectionsOpened: opened,
    peakOpenConnections: peak,
    latencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)), max: round(latencies.at(-1) ?? Number.NaN) },
    issueMs: Math.round(issueMs),
    wallMs: Math.round(wallMs),
  };
}

/** `count` requests, each on a connection of its own opened at the same moment. */
export async function newConnectionBurst(target: Target, count: number, onAccepted?: (body: string) => void): Promise<BurstResult> {
  return { mode: 'new-connections', preopenedConnections: 0, ...(await fire(target, count, false, onAccepted)) };
}

/**
 * `count` requests at once over `connections` keep-alive connections opened (and
 * used once, with a GET that answers 404) before the clock starts.
 */
export async function keepAliveBurst(target: Target, count: number, connections: number, onAccepted?: (body: string) => void): Promise<BurstResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections, scheduling: 'fifo' });
  try {
    const { hostname, port } = new URL(target.url);
    await Promise.all(
      Array.from({ length: connections }, () =>
        new Promise<void>((resolve, reject) => {
          http.get({ hostname, port, path: '/bench-warm-up', agent }, (response) => response.resume().on('end', resolve)).on('error', reject);
        }),
      ),
    );
    const result = await fire(target, count, agent, onAccepted);
    return { mode: 'keep-alive', preopenedConnections: connections, ...result };
  } finally {
    agent.destroy();
  }
}
