import { connect, type Socket } from 'node:net';
import type { Latency, Target } from '../lib/load.ts';
import { AnswerReader, getBytes, requestBytes, type Answer } from '../lib/raw-http.ts';

export interface BurstResult {
  target: string;
  mode: 'new-connections' | 'keep-alive';
  requests: number;
  ok: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  /** Failed requests by error code (ECONNRESET, TIMEOUT, EOF, ...). */
  errors: Record<string, number>;
  /** Keep-alive connections opened before the clock started (0: each request opens its own). */
  preopenedConnections: number;
  /** TCP connections that completed their handshake during the burst. */
  connectionsOpened: number;
  /** Most connections open at the same moment, seen from this side. */
  peakOpenConnections: number;
  /**
   * From the moment the request was issued to the last byte of its answer: for new
   * connections, from just before connect(); over keep-alive connections, from the
   * start of the burst (all requests are issued then and queue on their connection).
   */
  latencyMs: Latency;
  /** Time to issue every request, and until the last one settled. */
  issueMs: number;
  wallMs: number;
  /** CPU this process (the load generator) spent on the burst: on two cores it competes with the server. */
  clientCpuMs: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/** Tallies the answers and failures of one burst. */
function tally(target: Target, onAccepted?: (body: string) => void) {
  const cpu = process.cpuUsage();
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  const errors: Record<string, number> = {};
  let ok = 0;
  return {
    answered(answer: Answer, issuedAt: number) {
      latencies.push(performance.now() - issuedAt);
      statusCodes[answer.status] = (statusCodes[answer.status] ?? 0) + 1;
      if (answer.status >= 200 && answer.status < 300) {
        ok++;
        onAccepted?.(answer.body);
      }
    },
    failed(error: unknown) {
      const code = (error as { code?: string }).code ?? (error as Error).message;
      errors[code] = (errors[code] ?? 0) + 1;
    },
    result(requests: number, timing: { issueMs: number; wallMs: number }, connections: { opened: number; peak: number }) {
      latencies.sort((a, b) => a - b);
      const used = process.cpuUsage(cpu);
      return {
        target: target.name,
        requests,
        ok,
        non2xx: latencies.length - ok,
        statusCodes,
        errors,
        connectionsOpened: connections.opened,
        peakOpenConnections: connections.peak,
        latencyMs: {
          p50: round(percentile(latencies, 50)),
          p99: round(percentile(latencies, 99)),
          max: round(latencies.at(-1) ?? Number.NaN),
        },
        issueMs: Math.round(timing.issueMs),
        wallMs: Math.round(timing.wallMs),
        clientCpuMs: Math.round((used.user + used.system) / 1000),
      };
    },
  };
}

/**
 * `count` requests issued from one synchronous loop, each on a connection of its own
 * (`Connection: close`): the connection storm a fleet of reconnecting clients makes.
 */
export async function newConnectionBurst(target: Target, count: number, onAccepted?: (body: string) => void): Promise<BurstResult> {
  const { hostname, port } = new URL(target.url);
  const bytes = requestBytes(target, `${hostname}:${port}`, true);
  const t = tally(target, onAccepted);
  let opened = 0;
  let open = 0;
  let peak = 0;
  const started = performance.now();
  const settled: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const issuedAt = performance.now();
    const socket = connect({ host: hostname, port: Number(port), noDelay: true });
    const reader = new AnswerReader(socket);
    socket.once('connect', () => {
      opened++;
      peak = Math.max(peak, ++open);
      socket.once('close', () => open--);
      socket.write(bytes);
    });
    settled.push(
      reader
        .next()
        .then(
          (answer) => t.answered(answer, issuedAt),
          (error: unknown) => t.failed(error),
        )
        .finally(() => socket.end()),
    );
  }
  const issueMs = performance.now() - started;
  await Promise.all(settled);
  return {
    mode: 'new-connections',
    preopenedConnections: 0,
    ...t.result(count, { issueMs, wallMs: performance.now() - started }, { opened, peak }),
  };
}

async function openWarm(hostname: string, port: number, host: string): Promise<{ socket: Socket; reader: AnswerReader }> {
  const socket = connect({ host: hostname, port, noDelay: true });
  const reader = new AnswerReader(socket);
  socket.write(getBytes('/bench-warm-up', host));
  await reader.next(); // a 404: the server has accepted this connection and parsed on it
  return { socket, reader };
}

/**
 * `count` requests at once over `connections` keep-alive connections opened (and
 * used once) before the clock starts; each connection sends its share one after the
 * other, as an HTTP client's connection pool would.
 */
export async function keepAliveBurst(
  target: Target,
  count: number,
  connections: number,
  onAccepted?: (body: string) => void,
): Promise<BurstResult> {
  const { hostname, port } = new URL(target.url);
  const host = `${hostname}:${port}`;
  const bytes = requestBytes(target, host, false);
  const pool = await Promise.all(Array.from({ length: connections }, () => openWarm(hostname, Number(port), host)));
  const t = tally(target, onAccepted);
  let remaining = count;
  const started = performance.now();
  try {
    await Promise.all(
      pool.map(async ({ socket, reader }) => {
        while (remaining > 0) {
          remaining--;
          socket.write(bytes);
          try {
            t.answered(await reader.next(), started);
          } catch (error) {
            t.failed(error);
            return;
          }
        }
      }),
    );
  } finally {
    for (const { socket } of pool) socket.destroy();
  }
  const elapsed = performance.now() - started;
  return {
    mode: 'keep-alive',
    preopenedConnections: connections,
    ...t.result(count, { issueMs: 0, wallMs: elapsed }, { opened: 0, peak: connections }),
  };
}
