import { isUuid, MessageView } from '@esh3ar/contracts';
import { cancelQueued, cancelStored, getMessage, type CanceledApp } from '@esh3ar/db';
import { findBuffered } from '@esh3ar/queue';
import { announceCanceled } from '@esh3ar/queue/presence';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { apiError, unavailable } from '../errors.ts';
import { ANSWERED_AS_BUILT, API_KEY_ERRORS, errorResponses, json, SECURITY } from '../route-docs.ts';
import { EXAMPLE_CANCELED_VIEW, RATE_LIMIT_HEADERS } from './message-docs.ts';
import type { ReadRouteDeps } from './read-messages.ts';

// No pattern: an id that is no UUID is answered 404 like an unknown one, as GET does.
const MessageParams = Type.Object({ id: Type.String() });

/**
 * Tells the gateways holding these app messages' phones to drop them. Best effort: the
 * cancel stands without it, since what a gateway pushes again or replays it reads from
 * PostgreSQL, where they are canceled; only a push already on its way can still happen.
 */
export async function announce(deps: Pick<ReadRouteDeps, 'redis' | 'keys'>, log: FastifyBaseLogger, items: CanceledApp): Promise<void> {
  await announceCanceled(deps.redis, deps.keys.prefix, items).catch((error: unknown) =>
    log.warn(
      { err: error, messages: items.length },
      'cancel not announced to the gateways; they drop the messages when they next read them',
    ),
  );
}

/**
 * Cancels the tenant's message `id`: stored as canceled if it is still only in the buffer,
 * else its row moved to canceled if it may be (cancel-message.sql). Throws NOT_FOUND or
 * NOT_CANCELABLE.
 */
async function cancel(deps: ReadRouteDeps, tenantId: string, id: string): Promise<void> {
  // The buffer first, as GET reads it: a worker commits a message's row before it removes
  // the buffer's index entry, so one not found there is in PostgreSQL by the time this looks.
  const buffered = await findBuffered(deps.redis, deps.ingestQueues, deps.keys, tenantId, id).catch((error: unknown) => ({
    kind: 'failed' as const,
    error,
  }));
  if (buffered.kind === 'queued') {
    const inserted = await cancelQueued(deps.pool, buffered.message).catch((error: unknown) => {
      throw unavailable('the message store', error);
    });
    // Not inserted: a worker stored it meanwhile, and its row is canceled below.
    if (inserted) return;
  }
  const outcome = await cancelStored(deps.pool, tenantId, id).catch((error: unknown) => {
    throw unavailable('the message store', error);
  });
  if (outcome.kind === 'canceled') return;
  if (outcome.kind === 'refused') throw apiError('NOT_CANCELABLE', `${outcome.why}: it cannot be canceled`);
  if (buffered.kind === 'failed') throw unavailable('the buffer', buffered.error);
  throw apiError('NOT_FOUND', 'no message with this id');
}

/** DELETE /v1/messages/:id: cancels a message not yet sent. */
export function cancelMessageRoute(app: FastifyInstance, deps: ReadRouteDeps): void {
  app.withTypeProvider<TypeBoxTypeProvider>().delete(
    '/v1/messages/:id',
    {
      ...ANSWERED_AS_BUILT,
      schema: {
        operationId: 'cancelMessage',
        summary: 'Cancel a message not yet sent',
        description:
          'A message still `queued`, `scheduled` or `pending`, which no provider was ever called for, becomes `canceled` (final; ' +
          'reported to the status webhook) and is never pushed or sent afterwards. One already sent, final, or with a provider ' +
          'call in progress or of unknown outcome is `409 NOT_CANCELABLE`, in words saying which.',
        tags: ['messages'],
        security: SECURITY.apiKey,
        params: MessageParams,
        response: {
          200: json('The message as GET answers it, now canceled', MessageView, { canceled: EXAMPLE_CANCELED_VIEW }, RATE_LIMIT_HEADERS),
          ...errorResponses([...API_KEY_ERRORS, 'NOT_FOUND', 'NOT_CANCELABLE'], {
            NOT_CANCELABLE: 'the message is already sent: it cannot be canceled',
          }),
        },
      },
      config: { budget: 'read' },
    },
    async (request) => {
      const tenantId = request.tenant!.id;
      if (!isUuid(request.params.id)) throw apiError('NOT_FOUND', 'no message with this id');
      // As the api writes ids, in lower case: the buffer and the gateways compare them as
      // strings, and a UUID's upper-case form is the same id.
      const id = request.params.id.toLowerCase();
      await cancel(deps, tenantId, id);
      const view = await getMessage(deps.pool, tenantId, id).catch((error: unknown) => {
        throw unavailable('the message store', error);
      });
      // Only the retention purge removes a row, one unchanged for days; this one changed just now.
      if (view === null) throw apiError('NOT_FOUND', 'no message with this id');
      if (view.channel === 'app') await announce(deps, request.log, [{ id, recipient: view.recipient }]);
      return view;
    },
  );
}
