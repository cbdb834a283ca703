import type { IngestMetrics } from '@esh3ar/observability';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { toErrorAnswer } from './errors.ts';

/**
 * Every error answer of the api (the queue board's routes included, see
 * routes/queue-board.ts): the contract's body with the request's id in it, Retry-After
 * where the error has one, and a Bearer challenge on every 401 that has no other. What
 * the caller is not told (a driver's message, a stack) is logged under the same id.
 */
export function errorHandler(metrics: IngestMetrics) {
  return function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
    const answer = toErrorAnswer(error);
    const { code } = answer.body.error;
    if (code === 'INTERNAL') request.log.error({ err: error }, 'request failed');
    // One line per refused request while a service is down: the answer says only "retry".
    if (code === 'UNAVAILABLE')
      request.log.warn(
        { reason: error.message, cause: error.cause instanceof Error ? error.cause.message : error.cause },
        'request refused: a service it needs is unavailable',
      );
    // Not a sender's message refused: admin routes, and provider receipts (esh3ar_provider_receipts_total{result="forged"}).
    if (answer.status === 401 && !request.url.startsWith('/v1/admin/') && !request.url.startsWith('/v1/providers/'))
      metrics.refused.inc({ reason: 'auth' });
    // RFC 9110 §11.6.1: a 401 names its scheme. The admin routes may have set their own (Basic, for the queue board).
    if (answer.status === 401 && !reply.hasHeader('www-authenticate')) reply.header('www-authenticate', 'Bearer realm="esh3ar"');
    if (answer.retryAfterSeconds !== undefined) reply.header('retry-after', String(answer.retryAfterSeconds));
    reply.code(answer.status).send({ error: { ...answer.body.error, requestId: request.id } });
  };
}
