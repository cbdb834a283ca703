import { once } from 'node:events';
import { afterEach, expect, it } from 'vitest';
import { WebSocket as WsWebSocket, WebSocketServer } from 'ws';
import { recordingDevice, type RecordingDevice } from './device.test-kit.ts';

// Close codes that no well-behaved client gets from a real gateway (1008 and 1009 answer
// bad frames; the library sends none): a local WebSocket server that closes every
// connection with the code under test.
const servers: WebSocketServer[] = [];
const devices: RecordingDevice[] = [];

afterEach(async () => {
  for (const d of devices.splice(0)) d.close();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A server that closes each connection with `code`; its URL and the tokens it was offered. */
async function closingServer(code: number): Promise<{ url: string; tokens: string[] }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  servers.push(server);
  const tokens: string[] = [];
  server.on('connection', (socket, request) => {
    tokens.push(new URL(request.url!, 'http://x').searchParams.get('access_token')!);
    socket.close(code, `closed with ${code}`);
  });
  await once(server, 'listening');
  return { url: `ws://127.0.0.1:${(server.address() as { port: number }).port}/v1/stream`, tokens };
}

it('stops on 1008 and says why, instead of reconnecting into the same refusal', async () => {
  const { url } = await closingServer(1008);
  const d = recordingDevice({ url, token: 't' });
  devices.push(d);
  await d.until(() => d.statuses.some((s) => s.state === 'stopped'));
  expect(d.statuses).toEqual([
    { state: 'connecting', attempt: 1 },
    { state: 'open' },
    { state: 'stopped', code: 1008, reason: 'closed with 1008' },
  ]);
});

it('backs off on 1013, asking the token function for a token at every attempt (Node 20: the ws package’s WebSocket)', async () => {
  const { url, tokens } = await closingServer(1013);
  let minted = 0;
  const d = recordingDevice({ url, token: async () => `token-${++minted}`, backoff: { initialMs: 1, maxMs: 1 }, WebSocket: WsWebSocket });
  devices.push(d);
  await d.until(() => d.statuses.filter((s) => s.state === 'reconnecting').length >= 2);
  const closes = d.statuses.filter((s) => s.state === 'reconnecting');
  expect(closes[0]).toMatchObject({ code: 1013, reason: 'closed with 1013' });
  expect(tokens.slice(0, 2)).toEqual(['token-1', 'token-2']);
});
