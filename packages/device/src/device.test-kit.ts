import { EventEmitter } from 'node:events';
import { connectDevice } from './connect-device.ts';
import type { ConnectDeviceOptions, DeviceError, DeviceStatus } from './device-options.ts';
import type { DeviceMessage } from './server-frames.ts';

// A device run by the library in the test's process, against the gateway processes of a
// stack, with what it did recorded and awaitable.

export interface RecordingDevice {
  /** Ids in the order they were handed to onMessage (a repeat would show twice). */
  handled: string[];
  statuses: DeviceStatus[];
  errors: DeviceError[];
  /** Ids handed to onMessage before each onReplayed call. */
  replayedAfter: number[];
  /** Resolves once `predicate` holds for what was recorded. */
  until(predicate: () => boolean): Promise<void>;
  close(): void;
}

export function recordingDevice(
  options: Omit<ConnectDeviceOptions, 'onMessage' | 'onReplayed' | 'onStatus' | 'onError'> & {
    onMessage?: (message: DeviceMessage) => void | Promise<void>;
  },
): RecordingDevice {
  const changed = new EventEmitter();
  const device: Omit<RecordingDevice, 'until' | 'close'> = { handled: [], statuses: [], errors: [], replayedAfter: [] };
  const record = () => void changed.emit('change');
  const connection = connectDevice({
    ...options,
    async onMessage(message) {
      device.handled.push(message.id);
      record();
      await options.onMessage?.(message);
    },
    onReplayed() {
      device.replayedAfter.push(device.handled.length);
      record();
    },
    onStatus(status) {
      device.statuses.push(status);
      record();
    },
    onError(error) {
      device.errors.push(error);
      record();
    },
  });
  return {
    ...device,
    until: (predicate) =>
      new Promise((resolve) => {
        if (predicate()) return resolve();
        const check = () => {
          if (!predicate()) return;
          changed.off('change', check);
          resolve();
        };
        changed.on('change', check);
      }),
    close: () => connection.close(),
  };
}

/**
 * Node's WebSocket, recording the frames each socket receives before the library sees
 * them (its listener is added first): a test can wait for what the gateway sent.
 */
export function recordingSockets(): {
  WebSocket: typeof WebSocket;
  /** Per socket, in the order they were made: the frames received, parsed. */
  frames: { type: string; id?: string }[][];
  until(predicate: () => boolean): Promise<void>;
} {
  const changed = new EventEmitter();
  const frames: { type: string; id?: string }[][] = [];
  class RecordingWebSocket extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      const received: { type: string; id?: string }[] = [];
      frames.push(received);
      this.addEventListener('message', (event) => {
        received.push(JSON.parse(event.data as string) as { type: string; id?: string });
        changed.emit('change');
      });
    }
  }
  return {
    WebSocket: RecordingWebSocket,
    frames,
    until: (predicate) =>
      new Promise((resolve) => {
        if (predicate()) return resolve();
        const check = () => {
          if (!predicate()) return;
          changed.off('change', check);
          resolve();
        };
        changed.on('change', check);
      }),
  };
}

/** A promise and the function that resolves it: a handler that waits for the test. */
export function gate(): { opened: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** The part of a pg.Pool these helpers use: the stack's, reading what the gateway wrote. */
interface Queryable {
  query<R>(text: string, values: unknown[]): Promise<{ rows: R[] }>;
}

/** Sends an app message to `phone` through the api; its id. */
export async function sendTo(apiUrl: string, apiKey: string, phone: string, content = 'hello'): Promise<string> {
  const response = await fetch(`${apiUrl}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ recipient: phone, content }),
  });
  const body = (await response.json()) as { id: string };
  if (response.status !== 202) throw new Error(`send answered ${response.status}: ${JSON.stringify(body)}`);
  return body.id;
}

export const statusOf = async (pool: Queryable, id: string): Promise<string> =>
  (await pool.query<{ status: string }>('SELECT status FROM messages WHERE id = $1', [id])).rows[0]?.status ?? 'absent';

/** Polls PostgreSQL (another process's writes) every 50 ms until every id has `status`, for up to 60 s. */
export async function waitStatuses(pool: Queryable, ids: readonly string[], status: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const statuses = await Promise.all(ids.map((id) => statusOf(pool, id)));
    if (statuses.every((s) => s === status)) return;
    if (Date.now() > deadline) throw new Error(`not all ${status} within 60 s: ${statuses.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
