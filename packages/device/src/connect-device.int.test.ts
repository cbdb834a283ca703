import { freePort, startStack, waitFor, type AppProcess, type Stack } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gate, recordingDevice, recordingSockets, sendTo, statusOf, waitStatuses, type RecordingDevice } from './device.test-kit.ts';

// The library in this process (Node's global WebSocket) against real gateway processes,
// the api and a worker: what an app gets from connectDevice, and what PostgreSQL says
// the gateway was told.
let stack: Stack;
let apiKey: string;
let gatewayPort: number;
let gateway: AppProcess;
const devices: RecordingDevice[] = [];
let phoneSeq = 0;

const newPhone = () => `+96656${String(1_000_000 + phoneSeq++)}`;
const streamUrl = (port: number) => `ws://127.0.0.1:${port}/v1/stream`;
// Re-pushes after 1.5 s instead of 30 s.
const ACK_TIMEOUT_MS = '1500';

function device(phone: string, options: Partial<Parameters<typeof recordingDevice>[0]> = {}): RecordingDevice {
  const d = recordingDevice({ url: streamUrl(gatewayPort), token: stack.deviceToken(phone), ...options });
  devices.push(d);
  return d;
}

/** The gateway's re-pushes so far (its /metrics). */
async function repushes(g: AppProcess): Promise<number> {
  const text = await (await fetch(`${g.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('esh3ar_gateway_pushes_total{') && l.includes('kind="retry"'));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

beforeAll(async () => {
  stack = await startStack('device-library', {
    workers: 1,
    env: { GATEWAY_ACK_TIMEOUT_MS: ACK_TIMEOUT_MS, WORKER_BATCH_TIMEOUT_MS: '5' },
  });
  ({ apiKey } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 }));
  // A port of its own, so that a gateway restarted after a kill listens where the devices reconnect.
  gatewayPort = await freePort();
  gateway = await stack.startGateway({ GATEWAY_PORT: String(gatewayPort) });
});
afterAll(async () => {
  for (const d of devices) d.close();
  await stack?.close();
});

describe('connectDevice against a real gateway', () => {
  it('hands each message once, one at a time, and acknowledges it only once its handler resolved', async () => {
    const phone = newPhone();
    const first = gate();
    const d = device(phone, {
      onMessage: async (m) => {
        if (m.content === 'first') await first.opened;
      },
    });
    await d.until(() => d.replayedAfter.length === 1);
    const firstId = await sendTo(stack.api!.url, apiKey, phone, 'first');
    const rest = [await sendTo(stack.api!.url, apiKey, phone, 'second'), await sendTo(stack.api!.url, apiKey, phone, 'third')];
    await d.until(() => d.handled.length === 1);
    // No ack while the handler runs: the gateway pushes the message again after its ack
    // timeout, and the library hands it on no second time.
    const before = await repushes(gateway);
    await waitStatuses(stack.pool, [firstId], 'sent');
    await waitFor(
      () => repushes(gateway),
      (n) => n > before,
    );
    expect(await statusOf(stack.pool, firstId)).toBe('sent');
    expect(d.handled).toEqual([firstId]); // one at a time: the others wait behind it
    first.open();
    await waitStatuses(stack.pool, [firstId, ...rest], 'delivered');
    // Handed in the order pushed; two requests' messages may be stored, and so pushed, in
    // either order (separate ingest jobs), so only the blocked first one's place is fixed.
    expect(d.handled[0]).toBe(firstId);
    expect(d.handled.slice(1).sort()).toEqual([...rest].sort());
    expect(d.errors).toEqual([]);
  });

  it('signals the end of the backlog after handing it, once per connection', async () => {
    const phone = newPhone();
    const backlog = [await sendTo(stack.api!.url, apiKey, phone, 'one'), await sendTo(stack.api!.url, apiKey, phone, 'two')];
    await waitStatuses(stack.pool, backlog, 'pending');
    const d = device(phone);
    await d.until(() => d.replayedAfter.length === 1);
    expect(d.handled).toEqual(backlog);
    expect(d.replayedAfter).toEqual([2]);
    const live = await sendTo(stack.api!.url, apiKey, phone, 'live');
    await waitStatuses(stack.pool, [...backlog, live], 'delivered');
    expect(d.handled).toEqual([...backlog, live]);
    expect(d.replayedAfter).toEqual([2]);
  });

  it('does not acknowledge a message whose handler rejected: the gateway pushes it again and it is handed again', async () => {
    const phone = newPhone();
    let attempts = 0;
    const d = device(phone, {
      onMessage: async () => {
        if (++attempts === 1) throw new Error('the app could not store it');
      },
    });
    await d.until(() => d.replayedAfter.length === 1);
    const id = await sendTo(stack.api!.url, apiKey, phone);
    await d.until(() => d.errors.length === 1);
    expect(d.errors).toEqual([{ kind: 'handler', id, error: new Error('the app could not store it') }]);
    await waitStatuses(stack.pool, [id], 'delivered');
    expect(d.handled).toEqual([id, id]);
  });

  it('reconnects after the gateway is killed and restarted, delivers the rest, and hands no duplicate twice', async () => {
    const phone = newPhone();
    const held = gate();
    const sockets = recordingSockets();
    const d = device(phone, {
      WebSocket: sockets.WebSocket,
      onMessage: async (m) => {
        if (m.content === 'held') await held.opened;
      },
      backoff: { initialMs: 100, maxMs: 1000 },
    });
    await d.until(() => d.replayedAfter.length === 1);
    const heldId = await sendTo(stack.api!.url, apiKey, phone, 'held');
    const queued = await sendTo(stack.api!.url, apiKey, phone, 'received, waiting behind it');
    await waitStatuses(stack.pool, [heldId, queued], 'sent');
    expect(d.handled).toEqual([heldId]);

    await gateway.stop('SIGKILL');
    await d.until(() => d.statuses.some((s) => s.state === 'reconnecting'));
    const whileDown = await sendTo(stack.api!.url, apiKey, phone, 'sent while the gateway was down');
    await waitStatuses(stack.pool, [whileDown], 'pending');
    gateway = await stack.startGateway({ GATEWAY_PORT: String(gatewayPort) });
    // The new connection's replay pushes all three; the first two are the library's
    // already (one being handled, one waiting its turn) and are not handed again.
    // (The attempts while the gateway was down made sockets that never opened.)
    const replayed = () => sockets.frames.slice(1).find((frames) => frames.some((f) => f.type === 'replayed'));
    await sockets.until(() => replayed() !== undefined);
    expect(
      replayed()!
        .filter((f) => f.type === 'message')
        .map((f) => f.id),
    ).toEqual([heldId, queued, whileDown]);
    held.open();
    await waitStatuses(stack.pool, [heldId, queued, whileDown], 'delivered');
    expect(d.handled).toEqual([heldId, queued, whileDown]);
    await d.until(() => d.replayedAfter.length === 2);
    expect(d.errors).toEqual([]);
  });
});

describe('liveness', () => {
  it('takes a gateway that stopped sending anything for dead, and reconnects once it answers again', async () => {
    // Heartbeats every 500 ms: silence is noticed after 1 s.
    const port = await freePort();
    const quick = await stack.startGateway({ GATEWAY_PORT: String(port), GATEWAY_PING_INTERVAL_MS: '500' });
    const phone = newPhone();
    const d = recordingDevice({
      url: streamUrl(port),
      token: stack.deviceToken(phone),
      // As the heartbeats will say (twice their interval), from the start.
      silenceMs: 1000,
      backoff: { initialMs: 100, maxMs: 500 },
    });
    devices.push(d);
    await d.until(() => d.replayedAfter.length === 1);
    // Frozen: its sockets stay open and its kernel still answers TCP, but no frame comes.
    quick.child.kill('SIGSTOP');
    try {
      await d.until(() => d.statuses.some((s) => s.state === 'reconnecting' && s.reason === 'no frame for 1000 ms'));
    } finally {
      quick.child.kill('SIGCONT');
    }
    await d.until(() => d.replayedAfter.length === 2);
    const id = await sendTo(stack.api!.url, apiKey, phone);
    await d.until(() => d.handled.includes(id));
  });
});
