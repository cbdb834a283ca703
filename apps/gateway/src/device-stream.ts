import { STATUS_CODES, type IncomingMessage } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { Duplex } from 'node:stream';
import type { GatewayMetrics } from '@esh3ar/observability';
import { addPresence, removePresence, type PresenceEntry } from '@esh3ar/queue';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { errorFrame, type Connection, type DeviceHub } from './device-hub.ts';
import { tokenFromRequest } from './device-token.ts';
import { parseFrame } from './frames.ts';

export interface StreamDeps {
  logger: FastifyBaseLogger;
  redis: Redis;
  prefix: string;
  gatewayId: string;
  hub: DeviceHub;
  metrics: GatewayMetrics;
  phoneOf: (token: string) => string;
  maxFrameBytes: number;
}

export const presenceOf = (gatewayId: string, c: Connection): PresenceEntry => ({ phone: c.phone, gatewayId, connectionId: c.id });

/** The phone a request's device token names, or why it names none (for the 401). */
export function authenticate(phoneOf: (token: string) => string, headers: IncomingMessage['headers'], query: unknown): { phone: string } | { refused: string } {
  const token = tokenFromRequest(headers, query);
  if (token === null) return { refused: 'missing device token: Authorization: Bearer <token> or ?access_token=' };
  try {
    return { phone: phoneOf(token) };
  } catch (error) {
    return { refused: (error as Error).message };
  }
}

export const unauthenticatedBody = (message: string) => JSON.stringify({ error: { code: 'UNAUTHENTICATED', message, details: [] } });

function destroySocket(this: Duplex): void {
  this.destroy();
}

function refuse(socket: Duplex, status: 401 | 404, body: string): void {
  socket.once('finish', destroySocket);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * The `upgrade` listener for the HTTP server: GET `path` with a valid device token
 * becomes a device connection; a bad token gets a 401 and no socket opens.
 */
export function deviceStream(path: string, deps: StreamDeps): (request: IncomingMessage, socket: Duplex, head: Buffer) => void {
  // The hub tracks the connections: ws's own client Set and the 'close' listener it
  // adds to each socket were a second copy (~0.25 KiB per connection). Compression
  // stays off (ws's default for servers): it would be a zlib context per connection.
  const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: deps.maxFrameBytes });

  // One set of listener functions for every socket (ws calls them with the socket as
  // `this`), not four closures and their context per connection (~0.3 KiB).
  const connectionOf = new WeakMap<WebSocket, Connection>();
  const log = deps.logger;

  function onPong(this: WebSocket): void {
    const connection = connectionOf.get(this);
    if (connection) connection.alive = true;
  }

  function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    const connection = connectionOf.get(this);
    if (!connection) return;
    const frame = parseFrame(data, isBinary);
    if (frame.kind === 'error') {
      deps.metrics.frameErrors.inc({ code: frame.code });
      this.send(errorFrame(frame.code, frame.message));
      return;
    }
    const unknown = deps.hub.ack(connection, frame.ids);
    if (unknown.length > 0) {
      deps.metrics.frameErrors.inc({ code: 'UNKNOWN_MESSAGE' });
      this.send(errorFrame('UNKNOWN_MESSAGE', `not awaiting an ack from this device: ${unknown.slice(0, 10).join(', ')}`));
    }
  }

  function onClose(this: WebSocket): void {
    const connection = connectionOf.get(this);
    if (!connection) return;
    connectionOf.delete(this);
    deps.hub.detach(connection);
    removePresence(deps.redis, deps.prefix, [presenceOf(deps.gatewayId, connection)]).catch((error: Error) =>
      log.warn({ err: error }, 'presence not removed; a reader drops it once this gateway is gone, or its key expires'),
    );
  }

  function onError(this: WebSocket, error: Error): void {
    log.debug({ err: error }, 'device socket error');
  }

  function accept(socket: WebSocket, phone: string): void {
    const connection = deps.hub.attach(phone, socket);
    connectionOf.set(socket, connection);
    socket.on('pong', onPong);
    socket.on('message', onMessage);
    socket.on('close', onClose);
    socket.on('error', onError);
    // Presence first, then the replay: a message stored meanwhile is either routed
    // here live or found by the replay; the hub drops the duplicate. While Redis is
    // down the presence command waits for it (the connection's client retries forever).
    // The replay never fails: the hub retries it while PostgreSQL is down.
    void addPresence(deps.redis, deps.prefix, [presenceOf(deps.gatewayId, connection)]).then(
      () => deps.hub.replay(connection),
      (error: Error) => {
        log.warn({ err: error, connectionId: connection.id }, 'presence not registered; closing so the device reconnects');
        socket.close(1011, 'presence not registered, reconnect');
      },
    );
  }

  return function onUpgrade(request, socket, head) {
    // Node removes its own error listener before emitting 'upgrade'.
    socket.on('error', destroySocket);
    const url = request.url ?? '/';
    const q = url.indexOf('?');
    if ((q === -1 ? url : url.slice(0, q)) !== path) {
      refuse(socket, 404, JSON.stringify({ message: `Route ${request.method}:${url} not found`, error: 'Not Found', statusCode: 404 }));
      return;
    }
    // Checked before the upgrade: a bad token gets an HTTP 401 and no socket opens.
    const auth = authenticate(deps.phoneOf, request.headers, q === -1 ? {} : parseQuery(url.slice(q + 1)));
    if ('refused' in auth) {
      deps.metrics.rejectedUpgrades.inc();
      refuse(socket, 401, unauthenticatedBody(auth.refused));
      return;
    }
    // ws installs its own error listener in handleUpgrade.
    socket.removeListener('error', destroySocket);
    wss.handleUpgrade(request, socket, head, (ws) => accept(ws, auth.phone));
  };
}
