import { EventEmitter, once } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { connect as netConnect, type NetConnectOpts, type Socket } from 'node:net';
import { createPool } from '@esh3ar/db';
import { createRegistry } from '@esh3ar/observability';
import { createRedis } from '@esh3ar/queue';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { pino } from 'pino';
import type { Registry } from 'prom-client';
import { WebSocket } from 'ws';
import { parseConfig, type GatewayConfig } from './config.ts';
import type { DeviceHub } from './device-hub.ts';
import { startGateway } from './gateway.ts';
import { newGatewayId } from './server.ts';
import type { StatusWriter } from './status-writer.ts';

// A gateway in the test's own process, wired by startGateway as main.ts wires it (no
// presence beat or ping sweep: tests that need pings run the real process), so that
// tests can watch its hub, its logs and its metrics, and wait for what it does rather
// than for time to pass.

type LogLine = Record<string, unknown>;

export interface TestGateway {
  config: GatewayConfig;
  /** Its deliveries' channel is gatewayChannel(prefix, gatewayId); it does not beat (beatGateway) by itself. */
  gatewayId: string;
  /** Resolves once its channel is subscribed: what is published there from then on reaches it. */
  subscribed: Promise<void>;
  hub: DeviceHub;
  status: StatusWriter;
  pool: pg.Pool;
  app: FastifyInstance;
  /** ws://127.0.0.1:<port>/v1/stream */
  streamUrl: string;
  /** Resolves with the first log line from now on that `predicate` accepts. */
  logLine(predicate: (line: LogLine) => boolean): Promise<LogLine>;
  /** The sum of a metric's samples whose labels include `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

/**
 * `env` as the process would get it: DATABASE_URL, REDIS_URL, REDIS_PREFIX, DEVICE_TOKEN_SECRET, limits.
 * `ackTimeoutMs`, read at every re-push tick as the runtime configuration is: a test can
 * let re-pushes come due when it is ready for them rather than after a time.
 */
export async function startTestGateway(env: Record<string, string>, options: { ackTimeoutMs?: () => number } = {}): Promise<TestGateway> {
  const config = parseConfig(env);
  const logs = new EventEmitter<{ line: [LogLine] }>();
  logs.setMaxListeners(100);
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.emit('line', JSON.parse(line) as LogLine) });
  const subscribed = new Promise<void>((resolve) => {
    const listener = (line: LogLine) => {
      if (typeof line.msg !== 'string' || !line.msg.startsWith('deliveries subscribed')) return;
      logs.off('line', listener);
      resolve();
    };
    logs.on('line', listener);
  });
  const registry: Registry = createRegistry('gateway');
  const pool = createPool(config.postgres.url, { max: config.postgresPool.max, applicationName: 'esh3ar-test-gateway' });
  const redis: Redis = createRedis(config.redis.url, { name: 'esh3ar-test-gateway', failFast: false });
  const subscriber: Redis = createRedis(config.redis.url, { name: 'esh3ar-test-gateway-deliveries', failFast: false });
  const gatewayId = newGatewayId();
  const gateway = await startGateway({
    config,
    gatewayId,
    logger,
    registry,
    pool,
    redis,
    subscriber,
    ackTimeoutMs: options.ackTimeoutMs ?? (() => config.runtime.gateway.ackTimeoutMs),
  });
  const { app, hub, status } = gateway;
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return {
    config,
    gatewayId,
    subscribed,
    hub,
    status,
    pool,
    app,
    streamUrl: `ws://127.0.0.1:${port}/v1/stream`,
    logLine: (predicate) =>
      new Promise((resolve) => {
        const listener = (line: LogLine) => {
          if (!predicate(line)) return;
          logs.off('line', listener);
          resolve(line);
        };
        logs.on('line', listener);
      }),
    async metric(name, labels = {}) {
      const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
      if (!found) throw new Error(`no metric ${name}`);
      const values = found.values as { value: number; labels: Record<string, string | number> }[];
      return values
        .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
        .reduce((sum, v) => sum + v.value, 0);
    },
    async close() {
      await gateway.close();
      await pool.end();
      subscriber.disconnect();
      redis.disconnect();
    },
  };
}

export interface Frame {
  type: string;
  id?: string;
  tenant?: string;
  code?: string;
  message?: string;
}

export interface TestClient {
  socket: WebSocket;
  /** The client's TCP socket: paused, the client reads nothing and the gateway's writes pile up. */
  raw: Socket;
  /** Ids of the message frames received, in order. */
  ids: string[];
  frames: Frame[];
  /** Resolves once `predicate` holds for the frames received. */
  waitFor(predicate: (frames: Frame[]) => boolean): Promise<void>;
  received(n: number): Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
  ack(ids: readonly string[]): void;
}

/** A device on a real WebSocket (token in the Authorization header), or the HTTP answer that refused it. */
export async function connectClient(url: string, token: string): Promise<TestClient> {
  let raw: Socket | undefined;
  const createConnection = ((options: NetConnectOpts) => (raw = netConnect(options))) as typeof netConnect;
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, createConnection });
  const frames: Frame[] = [];
  const ids: string[] = [];
  const waiters = new Set<{ predicate: (frames: Frame[]) => boolean; resolve: () => void }>();
  socket.on('message', (data) => {
    const frame = JSON.parse((data as Buffer).toString('utf8')) as Frame;
    frames.push(frame);
    if (frame.type === 'message') ids.push(frame.id!);
    for (const w of waiters) {
      if (!w.predicate(frames)) continue;
      waiters.delete(w);
      w.resolve();
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const opened = await Promise.race([
    once(socket, 'open').then(() => null),
    once(socket, 'unexpected-response').then((args) => args[1] as IncomingMessage),
  ]);
  if (opened !== null) {
    socket.terminate();
    throw new RefusedUpgrade(opened.statusCode ?? 0, opened.headers);
  }
  const waitFor = (predicate: (frames: Frame[]) => boolean) =>
    predicate(frames) ? Promise.resolve() : new Promise<void>((resolve) => waiters.add({ predicate, resolve }));
  return {
    socket,
    raw: raw!,
    ids,
    frames,
    waitFor,
    received: (n) => waitFor(() => ids.length >= n),
    closed,
    ack: (batch) => socket.send(JSON.stringify({ type: 'ack', ids: batch })),
  };
}

export class RefusedUpgrade extends Error {
  override name = 'RefusedUpgrade';
  readonly status: number;
  readonly headers: IncomingHttpHeaders;

  constructor(status: number, headers: IncomingHttpHeaders) {
    super(String(status));
    this.status = status;
    this.headers = headers;
  }
}

/** The HTTP status (and headers) a refused upgrade got; throws if the socket opened. */
export async function refusal(url: string, token: string): Promise<RefusedUpgrade> {
  try {
    const client = await connectClient(url, token);
    client.socket.terminate();
  } catch (error) {
    if (error instanceof RefusedUpgrade) return error;
    throw error;
  }
  throw new Error('the upgrade was accepted');
}
