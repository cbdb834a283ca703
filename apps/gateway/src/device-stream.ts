import type { IncomingMessage } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { Duplex } from 'node:stream';
import { errorBody, type FrameErrorCode } from '@esh3ar/contracts';
import type { GatewayMetrics } from '@esh3ar/observability';
import { addPresence, removePresence, type PresenceEntry } from '@esh3ar/queue/presence';
import type { FastifyBaseLogger } from 'fastify';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { GatewayConfig } from './config.ts';
import type { Connection, DeviceHub } from './device-hub.ts';
import type { DeviceIdentity } from './device-token.ts';
import { errorFrame, parseFrame } from './frames.ts';
import {
  authenticate,
  countRefused,
  destroySocket,
  refuse,
  UNAVAILABLE_RETRY_AFTER_S,
  type Refusal,
  type RefusalReason,
} from './upgrade-refusals.ts';
import type { RedisClient } from '@esh3ar/queue';

export interface StreamDeps {
  logger: FastifyBaseLogger;
  redis: RedisClient;
  prefix: string;
  gatewayId: string;
  hub: DeviceHub;
  metrics: GatewayMetrics;
  identify: (token: string) => Promise<DeviceIdentity>;
  websocket: GatewayConfig['websocket'];
  connections: GatewayConfig['connections'];
}

export const presenceOf = (gatewayId: string, c: Connection): PresenceEntry => ({ phone: c.phone, gatewayId, connectionId: c.id });

/**
 * The `upgrade` listener for the HTTP server: GET `path` with a valid device token
 * becomes a device connection. No socket opens for a bad token (401), a token whose
 * issuer's keys cannot be fetched (503), a phone with `connections.perPhone` connections
 * here already (429, until one closes), or a gateway with `connections.max` (503).
 *
 * Counted per gateway process, as the memory they bound is: with N gateways behind the
 * load balancer a phone may hold up to N × perPhone.
 */
export function deviceStream(path: string, deps: StreamDeps): (request: IncomingMessage, socket: Duplex, head: Buffer) => void {
  // The hub tracks the connections: ws's own client Set and the 'close' listener it
  // adds to each socket were a second copy (~0.25 KiB per connection). Compression
  // stays off (ws's default for servers): it would be a zlib context per connection.
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: deps.websocket.maxFrameBytes,
  });
  const { maxBadFrames } = deps.websocket;
  // Until one of the phone's connections closes: one left half-open (a device that changed
  // networks) is dropped by the ping sweep within about a ping interval.
  const phoneRetryAfterSeconds = Math.ceil(deps.websocket.pingIntervalMs / 1000);

  // One set of listener functions for every socket (ws calls them with the socket as
  // `this`), not four closures and their context per connection (~0.3 KiB).
  const connectionOf = new WeakMap<WebSocket, Connection>();
  const log = deps.logger;

  function onPong(this: WebSocket): void {
    const connection = connectionOf.get(this);
    if (connection) deps.hub.ponged(connection);
  }

  /**
   * An error frame for the device, while its bad frames are within `maxBadFrames` per
   * 10 s; past it, the connection is closed with 1008 and nothing it sends is looked at
   * again, so that a hostile client cannot make the gateway parse and answer without end.
   */
  function badFrame(socket: WebSocket, connection: Connection, code: FrameErrorCode, message: () => string): void {
    deps.metrics.frameErrors.inc({ code });
    if (!deps.hub.countBadFrame(connection, maxBadFrames)) {
      deps.metrics.badFrameCloses.inc();
      log.info({ connectionId: connection.id, maxBadFrames }, 'closing a device that sent too many bad frames (1008)');
      socket.close(1008, `more than ${maxBadFrames} bad frames in 10 s`);
      return;
    }
    // Nothing is added to what a slow reader has not read.
    if (!deps.hub.isSlow(connection)) socket.send(errorFrame(code, message()));
  }

  function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    const connection = connectionOf.get(this);
    // Acks that arrive after a close began are still taken (they are written before exit);
    // anything from a connection closed for its bad frames is not.
    if (!connection || deps.hub.overBadFrames(connection, maxBadFrames)) return;
    try {
      takeFrame(this, connection, data, isBinary);
    } catch (error) {
      // What one device sent must not take down the process, and every device on it, as
      // an uncaught error would: that connection alone is closed (1011).
      log.error({ err: error, connectionId: connection.id }, 'a device frame could not be handled; closing its connection (1011)');
      this.close(1011, 'the frame could not be handled');
    }
  }

  function takeFrame(socket: WebSocket, connection: Connection, data: RawData, isBinary: boolean): void {
    const frame = parseFrame(data, isBinary);
    if (frame.kind === 'error') {
      badFrame(socket, connection, frame.code, () => frame.message);
      return;
    }
    const unknown = deps.hub.ack(connection, frame.ids);
    if (unknown.length > 0)
      badFrame(socket, connection, 'UNKNOWN_MESSAGE', () => `not awaiting an ack from this device: ${unknown.slice(0, 10).join(', ')}`);
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

  function accept(socket: WebSocket, identity: DeviceIdentity, tcp: Duplex): void {
    const connection = deps.hub.attach(identity.phone, socket, identity.tenant, tcp);
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

  /** Answers why a connection for `phone` cannot open now, if it cannot. */
  function overCapacity(phone: string | null, tenant: string | null): { refused: Refusal; reason: RefusalReason } | undefined {
    if (deps.hub.connectionCount >= deps.connections.max) {
      const body = errorBody(
        'OVERLOADED',
        `this gateway holds its maximum of ${deps.connections.max} connections; retry (another gateway may take it)`,
      );
      return {
        refused: { status: 503, body: JSON.stringify(body), retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_S },
        reason: 'gateway_connections',
      };
    }
    if (phone !== null && deps.hub.phoneConnectionCount(phone, tenant) >= deps.connections.perPhone) {
      const body = errorBody(
        'RATE_LIMITED',
        `this phone has ${deps.connections.perPhone} connections to this gateway already; one must close first`,
      );
      return {
        refused: { status: 429, body: JSON.stringify(body), retryAfterSeconds: phoneRetryAfterSeconds },
        reason: 'phone_connections',
      };
    }
    return undefined;
  }

  function refuseCounted(socket: Duplex, { refused, reason }: { refused: Refusal; reason: RefusalReason }): void {
    countRefused(deps.metrics, reason);
    refuse(socket, refused);
  }

  async function upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, query: unknown): Promise<void> {
    // Checked before the upgrade: no socket opens for a refused token.
    const auth = await authenticate(deps.identify, request.headers, query);
    // The device may have gone while its token was checked.
    if (socket.destroyed) return;
    if ('refused' in auth) return refuseCounted(socket, auth);
    // Again, now that the phone is known: other upgrades went through while this one's
    // token was checked. From here to accept() nothing waits, so no other can slip in.
    const over = overCapacity(auth.identity.phone, auth.identity.tenant);
    if (over) return refuseCounted(socket, over);
    // ws installs its own error listener in handleUpgrade.
    socket.removeListener('error', destroySocket);
    wss.handleUpgrade(request, socket, head, (ws) => accept(ws, auth.identity, socket));
  }

  return function onUpgrade(request, socket, head) {
    // Node removes its own error listener before emitting 'upgrade'.
    socket.on('error', destroySocket);
    const url = request.url ?? '/';
    const q = url.indexOf('?');
    if ((q === -1 ? url : url.slice(0, q)) !== path) {
      refuse(socket, {
        status: 404,
        body: JSON.stringify({ message: `Route ${request.method}:${url} not found`, error: 'Not Found', statusCode: 404 }),
      });
      return;
    }
    // A full gateway refuses before spending a signature check on the token.
    const full = overCapacity(null, null);
    if (full) return refuseCounted(socket, full);
    upgrade(request, socket, head, q === -1 ? {} : parseQuery(url.slice(q + 1))).catch((error: Error) => {
      log.error({ err: error }, 'device upgrade failed');
      socket.destroy();
    });
  };
}
