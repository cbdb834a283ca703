import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { simError } from '../errors.ts';
import { CHANNELS, isChannel, type Channel } from '../faults.ts';
import type { OutcomeCounters } from '../outcomes.ts';
import type { ReceivedStore } from '../store.ts';

export interface InspectDeps {
  store: ReceivedStore;
  counters: OutcomeCounters;
  registry: Registry;
}

/** What tests and demos read back: received items, counters, health and metrics. */
export function inspectRoutes(app: FastifyInstance, deps: InspectDeps): void {
  app.get('/received', async (request, reply) => {
    const { recipient, channel } = request.query as { recipient?: string; channel?: string };
    // An empty parameter (`?recipient=`) is the same as an absent one.
    const filter: { recipient?: string; channel?: Channel } = {};
    if (recipient) filter.recipient = recipient;
    if (channel) {
      if (!isChannel(channel)) return reply.code(400).send(simError('INVALID_REQUEST', `channel must be one of ${CHANNELS.join(', ')}`));
      filter.channel = channel;
    }
    return { items: deps.store.list(filter) };
  });

  app.delete('/received', async () => ({ cleared: deps.store.clear() }));

  app.get('/stats', async () => deps.counters.stats());

  app.get('/health/live', async () => ({ status: 'ok' }));
  // Nothing to wait for: the simulator is ready as soon as it listens.
  app.get('/health/ready', async () => ({ status: 'ok' }));

  app.get('/metrics', async (_request, reply) => reply.type(deps.registry.contentType).send(await deps.registry.metrics()));
}
