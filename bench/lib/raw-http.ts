import type { Socket } from 'node:net';
import type { Target } from './load.ts';

/**
 * A minimal HTTP/1.1 client over raw sockets for the bursts: node:http spends
 * ~50 µs of the load generator's thread per request, so 10,000 of them issued at
 * once would measure the client. Here a request is one prepared Buffer written to
 * a socket, and an answer is a status line, headers and a Content-Length body.
 */

export interface Answer {
  status: number;
  body: string;
}

const HEADER_END = Buffer.from('\r\n\r\n');
// Long enough that a SYN dropped twice (retried after 1 s, then 3 s) is slow, not lost.
export const REQUEST_TIMEOUT_MS = 30_000;

export function requestBytes(target: Target, host: string, close: boolean): Buffer {
  const body = Buffer.from(target.body);
  const headers = Object.entries({
    ...target.headers,
    host,
    'content-length': String(body.length),
    connection: close ? 'close' : 'keep-alive',
  })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return Buffer.concat([Buffer.from(`POST ${target.path} HTTP/1.1\r\n${headers}\r\n`), body]);
}

export function getBytes(path: string, host: string): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\nconnection: keep-alive\r\n\r\n`);
}

/** Reads answers off a socket one after the other; `next()` resolves with the next one. */
export class AnswerReader {
  #buffer: Buffer = Buffer.alloc(0);
  #waiting: { resolve: (a: Answer) => void; reject: (e: Error) => void } | undefined;
  #failure: Error | undefined;

  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#deliver();
    });
    socket.on('error', (error: Error) => this.#fail(error));
    socket.on('end', () => this.#fail(Object.assign(new Error('closed before answering'), { code: 'EOF' })));
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => {
      this.#fail(Object.assign(new Error('timed out'), { code: 'TIMEOUT' }));
      socket.destroy();
    });
  }

  next(): Promise<Answer> {
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#deliver(); // an answer may already be here, even if the socket has closed since
      if (this.#waiting && this.#failure) this.#fail(this.#failure);
    });
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.reject(error);
  }

  #deliver(): void {
    if (!this.#waiting) return;
    const end = this.#buffer.indexOf(HEADER_END);
    if (end === -1) return;
    const head = this.#buffer.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? Number.NaN);
    if (Number.isNaN(length))
      return this.#fail(Object.assign(new Error(`no content-length in: ${head.slice(0, 200)}`), { code: 'UNPARSEABLE' }));
    const bodyStart = end + HEADER_END.length;
    if (this.#buffer.length < bodyStart + length) return;
    const answer = { status: Number(head.slice(9, 12)), body: this.#buffer.subarray(bodyStart, bodyStart + length).toString() };
    this.#buffer = this.#buffer.subarray(bodyStart + length);
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting.resolve(answer);
  }
}
