import { DEFAULT_ACK_DELAY_MS } from './ack-batcher.ts';
import { DEFAULT_BACKOFF, type Backoff } from './backoff.ts';
import { DEFAULT_REMEMBERED_IDS } from './seen-ids.ts';
import type { DeviceMessage } from './server-frames.ts';

/** The part of a WebSocket this client uses: the browser's, Node ≥ 22's global one, or the `ws` package's. */
export interface DeviceSocket {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
}
export type DeviceSocketConstructor = new (url: string) => DeviceSocket;

/** Where the connection stands, for a status line or a log. */
export type DeviceStatus =
  | { state: 'connecting'; attempt: number }
  | { state: 'open' }
  /** Closed (code 1006: the network, a refused upgrade, or no frame within the silence limit); the next attempt in `inMs`. */
  | { state: 'reconnecting'; code: number; reason: string; inMs: number }
  /** For good: close() was called (1000), or the gateway closed with 1008 or 1009, which reconnecting would only repeat. */
  | { state: 'stopped'; code: number; reason: string };

/** Something that went wrong without ending the connection. */
export type DeviceError =
  /** onMessage rejected: the message is not acknowledged, the gateway pushes it again after its ack timeout (30 s), and it is handed to onMessage again then. */
  | { kind: 'handler'; id: string; error: unknown }
  /** An error frame from the gateway (docs/gateway-protocol.md: INVALID_FRAME, UNKNOWN_TYPE, INVALID_ACK, UNKNOWN_MESSAGE). */
  | { kind: 'frame'; code: string; message: string }
  /** A frame this client could not read. */
  | { kind: 'protocol'; message: string }
  /** The token function threw or rejected: tried again with the next attempt. */
  | { kind: 'token'; error: unknown };

export interface ConnectDeviceOptions {
  /** The gateway's stream: `wss://host/v1/stream`. */
  url: string;
  /**
   * The device token (a JWT whose `sub` is the phone), or a function giving one, called
   * before every attempt: a token that expired is refused at the upgrade, and a browser
   * cannot tell that refusal from a network failure, so pass a function that renews it.
   */
  token: string | (() => string | Promise<string>);
  /**
   * Called once per message id, one message at a time, in the order the gateway pushed
   * them; the message is acknowledged once the returned promise resolves.
   */
  onMessage: (message: DeviceMessage) => void | Promise<void>;
  /** Each connection's backlog has been handed to onMessage (and handled): what follows is new. */
  onReplayed?: () => void;
  onStatus?: (status: DeviceStatus) => void;
  onError?: (error: DeviceError) => void;
  /** Reconnection waits (full jitter); defaults 1 s doubling up to 30 s. */
  backoff?: Partial<Backoff>;
  /**
   * A connection that receives no frame for this long is taken for dead and replaced.
   * Until the gateway's first heartbeat says its interval: 75 s, the gateway's default
   * 30 s ping interval + its 15 s spread between two of a device's heartbeats at worst
   * + 30 s of margin. After it: twice the interval the heartbeat gives.
   */
  silenceMs?: number;
  /** How long acks wait to be sent together (default 20 ms). */
  ackDelayMs?: number;
  /** How many recent ids are remembered to drop duplicates (default 10,000). */
  rememberIds?: number;
  /** The WebSocket class: by default the global one (browsers, Node ≥ 22); on Node 20 pass the `ws` package's. */
  WebSocket?: DeviceSocketConstructor;
}

/** 75 s: see ConnectDeviceOptions.silenceMs. */
export const DEFAULT_SILENCE_MS = 75_000;

export type ResolvedOptions = Required<Omit<ConnectDeviceOptions, 'onReplayed' | 'onStatus' | 'onError' | 'backoff'>> &
  Pick<ConnectDeviceOptions, 'onReplayed' | 'onStatus' | 'onError'> & { backoff: Backoff };

export function resolveOptions(options: ConnectDeviceOptions): ResolvedOptions {
  const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: DeviceSocketConstructor }).WebSocket;
  if (WebSocketClass === undefined) {
    throw new TypeError('no global WebSocket (Node < 22): pass connectDevice({ WebSocket }) from the "ws" package');
  }
  const url = new URL(options.url);
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new TypeError(`url must be ws: or wss:, got ${options.url}`);
  return {
    ...options,
    backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
    silenceMs: options.silenceMs ?? DEFAULT_SILENCE_MS,
    ackDelayMs: options.ackDelayMs ?? DEFAULT_ACK_DELAY_MS,
    rememberIds: options.rememberIds ?? DEFAULT_REMEMBERED_IDS,
    WebSocket: WebSocketClass,
  };
}
