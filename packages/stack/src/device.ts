import { WebSocket, type RawData } from 'ws';

export interface ReceivedFrame {
  type: string;
  id?: string;
  [key: string]: unknown;
}

/**
 * A test device: a real WebSocket client that records every frame and lets a test
 * await the frames it expects.
 */
export class TestDevice {
  readonly frames: ReceivedFrame[] = [];
  readonly socket: WebSocket;
  #waiters = new Set<{ predicate: (frames: ReceivedFrame[]) => boolean; resolve: () => void }>();
  #closed: Promise<{ code: number; reason: string }>;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data: RawData) => {
      const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
      this.frames.push(JSON.parse(text) as ReceivedFrame);
      for (const w of this.#waiters) {
        if (w.predicate(this.frames)) {
          this.#waiters.delete(w);
          w.resolve();
        }
      }
    });
    this.#closed = new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Connects, or rejects with the HTTP status of a refused upgrade (e.g. "401"). */
  static connect(url: string, token: string | null, via: 'header' | 'query' = 'header'): Promise<TestDevice> {
    const target = via === 'query' && token !== null ? `${url}?access_token=${encodeURIComponent(token)}` : url;
    const socket = new WebSocket(target, { headers: via === 'header' && token !== null ? { authorization: `Bearer ${token}` } : {} });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new TestDevice(socket)));
      socket.once('unexpected-response', (_request, response) => {
        socket.terminate();
        reject(new Error(String(response.statusCode)));
      });
      socket.once('error', reject);
    });
  }

  messages(): ReceivedFrame[] {
    return this.frames.filter((f) => f.type === 'message');
  }

  /** Resolves once the frames received so far satisfy `predicate`. */
  waitFor(predicate: (frames: ReceivedFrame[]) => boolean, timeoutMs = 30_000): Promise<void> {
    if (predicate(this.frames)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = { predicate, resolve: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`frames not as expected within ${timeoutMs} ms; got ${JSON.stringify(this.frames).slice(0, 2000)}`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  waitForMessages(n: number, timeoutMs?: number): Promise<void> {
    return this.waitFor((frames) => frames.filter((f) => f.type === 'message').length >= n, timeoutMs);
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  ack(...ids: string[]): void {
    this.send(ids.length === 1 ? { type: 'ack', id: ids[0] } : { type: 'ack', ids });
  }

  closed(): Promise<{ code: number; reason: string }> {
    return this.#closed;
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.close();
    await this.#closed;
  }
}
