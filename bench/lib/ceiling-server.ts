/**
 * The ceiling: a bare Fastify 5 app doing what the api's POST /v1/messages does
 * before it touches Redis (parse, validate with the same validateMessage, answer
 * 202 with an id). Nothing Esh3ar does can be faster on this machine, so the
 * benchmark reports Esh3ar's figures as ratios to this one.
 *
 * Run as its own process (`PORT=0 node bench/lib/ceiling-server.ts`); it prints
 * `{"msg":"ceiling listening","port":N}` once ready.
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { validateMessage } from '@esh3ar/contracts';
import { serveBare } from './bare-serve.ts';

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });

app.post('/v1/messages', async (request, reply) => {
  const result = validateMessage(request.body);
  if (!result.ok) return reply.code(400).send({ error: { code: 'VALIDATION_FAILED', message: result.message, details: result.details } });
  return reply.code(202).send({ id: randomUUID(), status: 'queued', acceptedAt: new Date().toISOString() });
});

await serveBare(app);
