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

const redis = new Redis(process.env.FLOOR_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
// The queue floor-worker.ts takes its jobs from.
const queue = new Queue('floor', { connection: redis, prefix: process.env.FLOOR_PREFIX ?? 'floor' });

interface Pending {
  message: ValidMessage & { id: string; acceptedAt: string };
  done: (error: Error | null) => void;
}
let pending: Pending[] = [];
let inFlight = false;
let scheduled = false;

function flush(): void {
  scheduled = false;
  if (inFlight || pending.length === 0) return;
  const batch = pending;
  pending = [];
  inFlight = true;
  queue
    .add('store', { messages: batch.map((p) => p.message) }, { removeOnComplete: true })
    .then(
      () => batch.forEach((p) => p.done(null)),
      (error: unknown) => batch.forEach((p) => p.done(error as Error)),
    )
    .finally(() => {
      inFlight = false;
      flush();
    });
}

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });

app.post('/v1/messages', (request, reply) => {
  const result = validateMessage(request.body);
  if (!result.ok) {
    void reply.code(400).send({ error: { code: 'VALIDATION_FAILED', message: result.message, details: result.details } });
    return reply;
  }
  const message = { ...result.value, id: randomUUID(), acceptedAt: new Date().toISOString() };
  pending.push({
    message,
    done: (error) => {
      if (error) void reply.code(503).send({ error: { code: 'UNAVAILABLE', message: error.message } });
      else void reply.code(202).send({ id: message.id, status: 'queued', acceptedAt: message.acceptedAt });
    },
  });
  if (!scheduled && !inFlight) {
    scheduled = true;
    setImmediate(flush);
  }
  return reply;
});

await serveBare(app, async () => {
  await queue.close();
  await redis.quit();
});
