import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { ApiLimitMetrics } from '@esh3ar/observability';
import type { Queue } from 'bullmq';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export const QUEUE_BOARD_PATH = '/v1/admin/queues';

export interface QueueBoardOptions {
  /** QUEUE_BOARD_WRITE=on: the board's actions (retry, clean, empty, obliterate, pause, add and edit jobs) work. */
  write: boolean;
  /** The api's error handler: the board's errors are answered like every other route's. */
  errorHandler: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => void;
  limitMetrics: ApiLimitMetrics;
}

/**
 * Bull Board (queue inspection: waiting, delayed, failed jobs) for operators, mounted
 * inside the admin scope so ADMIN_TOKEN guards it like every admin route. A browser can
 * send the token as HTTP Basic credentials (any user name, the token as password): see
 * authenticateAdmin.
 *
 * Read-only unless QUEUE_BOARD_WRITE=on: each queue is given to the board with Bull
 * Board's `readOnlyMode`, so its action routes answer 405 and its page shows no buttons.
 * A retried ingest job can store nothing twice, but "clean", "empty" and "obliterate"
 * delete buffered messages that were answered 202.
 */
export async function queueBoard(admin: FastifyInstance, queues: readonly Queue[], options: QueueBoardOptions): Promise<void> {
  const readOnlyMode = !options.write;
  const serverAdapter = new FastifyAdapter();
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode })), serverAdapter });
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  await admin.register(
    async (board) => {
      // The board sets its own error handler, which answers with the error's message; a
      // route's own handler comes first.
      board.addHook('onRoute', (route) => {
        route.errorHandler = options.errorHandler;
      });
      // A page whose buttons act on the queues must not be framed by another site
      // (clickjacking): both headers, for browsers that know only the older one.
      board.addHook('onSend', async (_request, reply) => {
        reply.header('x-frame-options', 'DENY');
        reply.header('content-security-policy', "frame-ancestors 'none'");
      });
      if (readOnlyMode) {
        board.addHook('onResponse', async (_request, reply) => {
          if (reply.statusCode === 405) options.limitMetrics.refused.inc({ limit: 'queue_board_write' });
        });
      }
      await board.register(serverAdapter.registerPlugin());
    },
    { prefix: QUEUE_BOARD_PATH },
  );
}
