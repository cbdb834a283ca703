import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';

export const QUEUE_BOARD_PATH = '/v1/admin/queues';

/**
 * Bull Board (queue inspection: waiting, delayed, failed jobs, retries) for operators,
 * mounted inside the admin scope so ADMIN_TOKEN guards it like every admin route. A
 * browser can send the token as HTTP Basic credentials (any user name, the token as
 * password): see authenticateAdmin.
 */
export async function queueBoard(admin: FastifyInstance, queues: readonly Queue[]): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter });
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  await admin.register(serverAdapter.registerPlugin(), { prefix: QUEUE_BOARD_PATH });
}
