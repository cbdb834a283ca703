import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ErrorBody, ErrorCode } from '@esh3ar/contracts';

/** What Node refuses before any route runs, as the error catalogue names it. */
function classify(error: NodeJS.ErrnoException): { status: number; code: ErrorCode; message: string } {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'REQUEST_TIMEOUT', message: 'the request did not arrive in time; send it again' };
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'HEADERS_TOO_LARGE', message: 'the request headers are over 16 KiB' };
    default:
      return { status: 400, code: 'INVALID_REQUEST', message: 'the request is not valid HTTP/1.1' };
  }
}

/**
 * Fastify's clientErrorHandler: a request Node refused while reading it (a timeout, headers
 * too large, malformed HTTP) gets the one error body every other answer has, with a request
 * id in the body and in `x-request-id`, instead of Fastify's default shape. A socket that
 * can no longer be written (the client went away) is only closed.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy(error);
    return;
  }
  const { status, code, message } = classify(error);
  // No request was parsed, so no caller's id: a new one.
  const id = randomUUID();
  const body = JSON.stringify({ error: { code, message, details: [], requestId: id } } satisfies ErrorBody);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${id}\r\nconnection: close\r\n\r\n${body}`,
  );
}
