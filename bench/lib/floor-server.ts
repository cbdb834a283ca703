/**
 * The floor of the shape: what any api built from these parts must do at least, and
 * nothing more. The ceiling's bare Fastify route (parse, the same validateMessage, 202
 * with an id) plus a durable BullMQ enqueue before the answer, group-commit style as the
 * api does it: the messages that arrive while no write is in flight go in one job, and
 * each request is answered once Redis (AOF, fsync on every write) has taken its job. No
 * authentication, no rate limit, no buffer index, no metrics, no logs.
 *
 * Run as its own process (`PORT=0 FLOOR_REDIS_URL=… FLOOR_PREFIX=… node bench/lib/floor-server.ts`);
 * it prints `{"msg":"ceiling listening","port":N}` once ready, as the ceiling does, so
 * that startCeiling() starts either.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { validateMessage, type ValidMessage } from '@esh3ar/contracts';
import { serveBare } from './bare-serve.ts';
import { groupCommit } from './group-commit.ts';

const redis = new Redis(process.env.FLOOR_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
// The queue floor-worker.ts takes its jobs from.
const queue = new Queue('floor', { connection: redis, prefix: process.env.FLOOR_PREFIX ?? 'floor' });

const enqueue = groupCommit<ValidMessage & { id: string; acceptedAt: string }>((messages) =>
  queue.add('store', { messages }, { removeOnComplete: true }),
);

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });

app.post('/v1/messages', (request, reply) => {
  const result = validateMessage(request.body);
  if (!result.ok) {
    void reply.code(400).send({ error: { code: 'VALIDATION_FAILED', message: result.message, details: result.details } });
    return reply;
  }
  const message = { ...result.value, id: randomUUID(), acceptedAt: new Date().toISOString() };
  enqueue(message).then(
    () => reply.code(202).send({ id: message.id, status: 'queued', acceptedAt: message.acceptedAt }),
    (error: Error) => reply.code(503).send({ error: { code: 'UNAVAILABLE', message: error.message } }),
  );
  return reply;
});

await serveBare(app, async () => {
  await queue.close();
  await redis.quit();
});
