/**
 * The floor for bench/gateway/per-delivery.ts: a plain `ws` server in a process of its own
 * (started with fork, commands over IPC) that does only what delivery cannot do without:
 * it sends each device the message frames it is given (the gateway's bytes, made by the
 * orchestrator), paced as the gateway's deliveries are published, and reads the devices'
 * acks, parsing each as JSON as the gateway must. No state per message, no database, no
 * metrics. A device names its phone in `?access_token=` (the fleet's URL form).
 */
import { createServer } from 'node:http';
import { PerformanceObserver } from 'node:perf_hooks';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

export type BareCommand =
  /** The frames of the next round, with their phones: batch k is sent `tickMs` × k after `go`. */
  { cmd: 'load'; batches: [phone: string, frame: string][][]; tickMs: number } | { cmd: 'go' } | { cmd: 'stats' };

export interface BareStats {
  connections: number;
  acks: number;
  /** Epoch ms of the last ack read. */
  lastAckAt: number;
  /** Frames that were not an ack, and frames for phones with no connection. */
  badFrames: number;
  unrouted: number;
  /** Garbage collections so far and their time (perf_hooks' gc entries, as prom-client counts the gateway's). */
  gcCount: number;
  gcMs: number;
}

export type BareReply = { kind: 'listening'; port: number } | { kind: 'loaded' } | { kind: 'stats'; stats: BareStats };

function runBareServer(send: (reply: BareReply) => void): void {
  const sockets = new Map<string, WebSocket>();
  const stats: BareStats = { connections: 0, acks: 0, lastAckAt: 0, badFrames: 0, unrouted: 0, gcCount: 0, gcMs: 0 };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      stats.gcCount++;
      stats.gcMs += entry.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  const server = createServer();
  const wss = new WebSocketServer({ server, clientTracking: false, perMessageDeflate: false });

  function onMessage(data: RawData, isBinary: boolean): void {
    let frame: { type?: unknown; id?: unknown; ids?: unknown };
    try {
      frame = JSON.parse(isBinary ? '' : (data as Buffer).toString('utf8')) as typeof frame;
    } catch {
      stats.badFrames++;
      return;
    }
    if (frame.type !== 'ack') {
      stats.badFrames++;
      return;
    }
    stats.acks += typeof frame.id === 'string' ? 1 : Array.isArray(frame.ids) ? frame.ids.length : 0;
    stats.lastAckAt = Date.now();
  }

  wss.on('connection', (socket, request) => {
    const phone = new URL(request.url ?? '/', 'http://x').searchParams.get('access_token') ?? '';
    sockets.set(phone, socket);
    stats.connections++;
    socket.on('message', onMessage);
    socket.on('close', () => {
      if (sockets.get(phone) === socket) sockets.delete(phone);
      stats.connections--;
    });
  });

  function round(batches: [string, string][][], tickMs: number): void {
    const start = performance.now();
    let k = 0;
    const tick = () => {
      for (const [phone, frame] of batches[k]!) {
        const socket = sockets.get(phone);
        if (socket) socket.send(frame);
        else stats.unrouted++;
      }
      k++;
      if (k < batches.length) setTimeout(tick, Math.max(0, start + k * tickMs - performance.now()));
    };
    tick();
  }

  // Loaded apart from `go`: reading a round's frames off the IPC channel is not delivery work.
  let loaded: { batches: [string, string][][]; tickMs: number } | undefined;
  process.on('message', (command: BareCommand) => {
    switch (command.cmd) {
      case 'load':
        loaded = { batches: command.batches, tickMs: command.tickMs };
        send({ kind: 'loaded' });
        return;
      case 'go':
        if (loaded) round(loaded.batches, loaded.tickMs);
        loaded = undefined;
        return;
      case 'stats':
        send({ kind: 'stats', stats });
        return;
    }
  });
  process.on('disconnect', () => process.exit(0));
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    send({ kind: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
  });
}

if (process.send) {
  const toParent = process.send.bind(process);
  runBareServer((reply) => toParent(reply));
}
