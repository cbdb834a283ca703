import type { Duplex } from 'node:stream';
import type { DeliveryItem } from '@esh3ar/contracts';
import type { WebSocket } from 'ws';

/**
 * One device connection's state, changed by the hub's modules only (device-hub.ts,
 * replays.ts, pushes.ts); everything else gets it as a read-only `Connection`.
 */
export interface ConnectionState {
  /** Unique within this gateway process (presence members are "<gatewayId>|<id>"). */
  id: string;
  phone: string;
  /** The one tenant whose messages it receives (its token's issuer); null: every tenant's. */
  tenant: string | null;
  socket: WebSocket;
  /** The TCP socket under `socket`, corked while a batch of frames is written to it (slow-readers.ts); undefined: never corked. */
  tcp: Duplex | undefined;
  /** While its replay runs, live messages wait here so none is skipped or reordered ahead. */
  replaying: boolean;
  /** Asked for while a replay ran: that replay reads PostgreSQL once more before it ends. */
  replayAgain: boolean;
  /** Its first replay has pushed everything it found, and the device was told so (a "replayed" frame). */
  replayedOnce: boolean;
  queued: DeliveryItem[] | undefined;
  /** Ids pushed to this connection and not yet acknowledged (no duplicate pushes). */
  pushed: Set<string> | undefined;
  alive: boolean;
  /** Bad frames since `badFramesSince` (frame-budget.ts). */
  badFrames: number;
  badFramesSince: number;
}

/** One device connection, as the modules outside the hub see it: DeviceHub's methods change it. */
export type Connection = Readonly<ConnectionState>;

export interface InFlight {
  item: DeliveryItem;
  /** Its message frame (frames.ts), made at its first push: each connection and each re-push gets this string. */
  frame: string;
  firstPushedAt: number;
  lastPushedAt: number;
}

/**
 * Everything this gateway holds for one phone: its connections and what awaits an ack.
 * The collections here and in Connection exist only while they hold something: most
 * connections sit idle, and an empty Set or Map costs ~0.1 KiB (bench/gateway/memory.ts).
 */
export interface PhoneState {
  connections: Set<ConnectionState>;
  inFlight: Map<string, InFlight> | undefined;
  /** Recently acknowledged ids, with their tenant: a second device's late ack is harmless, not an error. */
  recentlyAcked: Map<string, string> | undefined;
}

/** A new connection, its live messages held until its first replay has run. */
export function newConnection(id: string, phone: string, tenant: string | null, socket: WebSocket, tcp?: Duplex): ConnectionState {
  return {
    id,
    phone,
    tenant,
    socket,
    tcp,
    replaying: true,
    replayAgain: false,
    replayedOnce: false,
    queued: undefined,
    pushed: undefined,
    alive: true,
    badFrames: 0,
    badFramesSince: 0,
  };
}

export const isOpen = (c: Connection) => c.socket.readyState === c.socket.OPEN;

/** No connection of the phone awaits an ack of `id` any more; emptied collections go. */
export function forget(state: PhoneState, id: string): void {
  if (state.inFlight?.delete(id) && state.inFlight.size === 0) state.inFlight = undefined;
  for (const c of state.connections) if (c.pushed?.delete(id) && c.pushed.size === 0) c.pushed = undefined;
}
