import type { Stack } from '@esh3ar/stack';
import { WebSocket, type RawData } from 'ws';
import type { MessageLog } from './paced-load.ts';

/** `count` devices, each a phone of its own (+9665…) with a day-long token for `stack`'s gateways. */
export function deviceCredentials(stack: Pick<Stack, 'deviceToken'>, count: number): { phone: string; token: string }[] {
  return Array.from({ length: count }, (_, i) => {
    const phone = `+9665${String(i).padStart(8, '0')}`;
    return { phone, token: stack.deviceToken(phone, 24 * 3600) };
  });
}

export interface ConnectResult {
  devices: number;
  connected: number;
  /** Failed connects by HTTP status or error code. */
  failed: Record<string, number>;
  seconds: number;
}

// Loopback gives ~28k ephemeral ports per source address: past this many devices
// they are spread over 127.0.0.2 … 127.0.0.9.
const ONE_SOURCE_ADDRESS_MAX = 20_000;
const HANDSHAKE_TIMEOUT_MS = 30_000;

/**
 * Many device connections in this process, lighter than TestDevice: raw `ws`
 * clients that keep no frames. Each message frame is acked at once
 * (`{"type":"ack","id"}`) and its arrival time written into the MessageLog.
 */
export class DeviceFleet {
  readonly #log: Pick<MessageLog, 'arrived'>;
  readonly #sockets: WebSocket[] = [];
  #closing = false;
  /** Connections that closed while the benchmark still needed them. */
  unexpectedCloses = 0;
  /** Frames that were not JSON, and error frames from the gateway. */
  unreadableFrames = 0;
  errorFrames = 0;
  acksSent = 0;

  constructor(log: Pick<MessageLog, 'arrived'>) {
    this.#log = log;
  }

  get open(): number {
    let n = 0;
    for (const s of this.#sockets) if (s.readyState === WebSocket.OPEN) n++;
    return n;
  }

  /** The phones whose device is connected. */
  readonly phones: string[] = [];

  /** Connects one device per phone, `concurrency` handshakes at a time. */
  async connect(streamUrl: string, devices: readonly { phone: string; token: string }[], concurrency: number): Promise<ConnectResult> {
    const started = performance.now();
    const failed: Record<string, number> = {};
    const spread = devices.length > ONE_SOURCE_ADDRESS_MAX;
    let next = 0;
    const lane = async () => {
      while (next < devices.length) {
        const i = next++;
        const { phone, token } = devices[i]!;
        try {
          this.#sockets.push(await this.#connectOne(`${streamUrl}?access_token=${token}`, spread ? `127.0.0.${2 + (i % 8)}` : undefined));
          this.phones.push(phone);
        } catch (error) {
          const code = (error as { code?: string }).code ?? (error as Error).message;
          failed[code] = (failed[code] ?? 0) + 1;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, devices.length) }, lane));
    return {
      devices: devices.length,
      connected: this.#sockets.length,
      failed,
      seconds: Math.round((performance.now() - started) / 10) / 100,
    };
  }

  #connectOne(url: string, localAddress: string | undefined): Promise<WebSocket> {
    const socket = new WebSocket(url, {
      perMessageDeflate: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      ...(localAddress ? { localAddress } : {}),
    });
    const log = this.#log;
    socket.on('message', (data: RawData, isBinary: boolean) => {
      const at = performance.now();
      let frame: { type?: unknown; id?: unknown; content?: unknown; createdAt?: unknown };
      try {
        frame = JSON.parse(isBinary ? '' : (data as Buffer).toString('utf8')) as typeof frame;
      } catch {
        this.unreadableFrames++;
        return;
      }
      if (frame.type !== 'message' || typeof frame.id !== 'string') {
        // The end of the replay and the heartbeats are no errors.
        if (frame.type !== 'replayed' && frame.type !== 'heartbeat') this.errorFrames++;
        return;
      }
      socket.send(`{"type":"ack","id":"${frame.id}"}`);
      this.acksSent++;
      log.arrived(frame.content, frame.id, frame.createdAt, at);
    });
    return new Promise((resolve, reject) => {
      socket.once('open', () => {
        socket.on('close', () => {
          if (!this.#closing) this.unexpectedCloses++;
        });
        resolve(socket);
      });
      socket.once('unexpected-response', (_request, response) => {
        socket.terminate();
        reject(Object.assign(new Error(`HTTP ${response.statusCode}`), { code: `HTTP ${response.statusCode}` }));
      });
      // Kept for the socket's life: an error after the handshake then only ends in 'close'.
      socket.on('error', reject);
    });
  }

  close(): void {
    this.#closing = true;
    for (const s of this.#sockets) s.terminate();
    this.#sockets.length = 0;
  }
}
