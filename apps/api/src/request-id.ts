import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';

// Letters, digits and `_ . : -`, up to 128: a UUID (36), a W3C traceparent (55) or a
// proxy's $request_id (32) passes; spaces, quotes and control characters, which could
// forge log lines or headers, do not.
const WELL_FORMED = /^[\w.:-]{1,128}$/;

/**
 * Fastify's genReqId: the caller's or the proxy's `x-request-id` when it is well formed,
 * so that one id follows a request through every log; a random UUID otherwise (unique
 * across api processes, unlike Fastify's default counter).
 */
export function requestId(raw: IncomingMessage): string {
  const incoming = raw.headers['x-request-id'];
  return typeof incoming === 'string' && WELL_FORMED.test(incoming) ? incoming : randomUUID();
}

/** onRequest: every answer carries the id its log lines have (`reqId`) and its error body. */
export function echoRequestId(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  reply.header('x-request-id', request.id);
  done();
}
