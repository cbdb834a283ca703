import {
  describeSchemaErrors,
  isUuid,
  PROVIDER_CHANNELS,
  UUID_PATTERN,
  type ErrorCode,
  type ProviderChannel,
  type SendJobData,
} from '@esh3ar/contracts';
import { listDeadLetters, replayDeadLetters, type DeadLetter, type DlqFilter } from '@esh3ar/db';
import { enqueueReplays } from '@esh3ar/queue';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { apiError } from '../errors.ts';
import { adminErrorResponses, ANSWERED_AS_BUILT, BODY_ERRORS, INPUT_CHECKED_BY_HANDLER, json, named, SECURITY } from '../route-docs.ts';

export interface DlqRouteDeps {
  pool: pg.Pool;
  sendQueues: ReadonlyMap<ProviderChannel, Queue<SendJobData>>;
}

const Filter = Type.Object(
  {
    tenant: Type.Optional(Type.String({ pattern: UUID_PATTERN })),
    channel: Type.Optional(Type.Union(PROVIDER_CHANNELS.map((c) => Type.Literal(c)))),
    error: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    until: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);
type Filter = Static<typeof Filter>;
// One object, not an intersection with Filter: Filter's additionalProperties refused limit and cursor.
const ListQuery = Type.Object(
  {
    ...Filter.properties,
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 1000 (default 100)' })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'nextCursor of the page before' })),
  },
  { additionalProperties: false },
);
const Replay = Type.Union([
  Type.Object(
    { ids: Type.Array(Type.String({ pattern: UUID_PATTERN }), { minItems: 1, maxItems: 10_000 }) },
    { additionalProperties: false },
  ),
  Type.Object({ filter: Filter }, { additionalProperties: false }),
]);
const DeadLetterPage = Type.Object({
  items: Type.Array(
    Type.Object({
      id: Type.String(),
      tenantId: Type.String(),
      recipient: Type.String(),
      channel: Type.String(),
      priority: Type.String(),
      failureReason: Type.Union([Type.String(), Type.Null()]),
      attempts: Type.Integer(),
      movedToDlqAt: Type.String(),
      createdAt: Type.String(),
    }),
  ),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
const EXAMPLE_DEAD_LETTER: DeadLetter = {
  id: '01948a3e-5b7c-7d2e-9f10-3a4b5c6d7e8f',
  tenantId: '01948a3e-1f2a-7b3c-8d4e-5f6a7b8c9d0e',
  recipient: '+966501234567',
  channel: 'sms',
  priority: 'high',
  failureReason: 'twilio error 21610',
  attempts: 5,
  movedToDlqAt: '2025-01-31T09:41:12.000Z',
  createdAt: '2025-01-31T09:30:00.000Z',
};

/** Both routes check their own input (TypeBox, in words) and answer rows of @esh3ar/db. */
function documented(schema: Record<string, unknown>, success: Record<number, unknown>, errors: ErrorCode[]) {
  return {
    ...INPUT_CHECKED_BY_HANDLER,
    ...ANSWERED_AS_BUILT,
    schema: {
      tags: ['admin: dead letters'],
      security: SECURITY.adminToken,
      ...schema,
      response: { ...success, ...adminErrorResponses(errors) },
    },
  };
}

const checkList = Compile(ListQuery);
const checkReplay = Compile(Replay);
const REPLAY_FILTER_MAX = 10_000;

const toDbFilter = (f: Filter): DlqFilter => ({
  tenantId: f.tenant ?? null,
  channel: f.channel ?? null,
  error: f.error ?? null,
  since: f.since ?? null,
  until: f.until ?? null,
});

function invalid(what: string, path = '/'): never {
  throw apiError('VALIDATION_FAILED', what, [{ path, message: what }]);
}

function invalidQuery(query: unknown): never {
  const details = describeSchemaErrors(checkList.Errors(query), { whole: 'the query', schema: ListQuery });
  throw apiError('VALIDATION_FAILED', details[0]?.message ?? 'the query is invalid', details);
}

/** GET /v1/admin/dlq and POST /v1/admin/dlq/replay (inside the admin scope: ADMIN_TOKEN). */
export function dlqAdminRoutes(app: FastifyInstance, deps: DlqRouteDeps): void {
  app.get(
    '/v1/admin/dlq',
    documented(
      {
        operationId: 'listDeadLetters',
        summary: 'Dead letters, newest first',
        description: 'Messages every provider of their channel refused, or that ran out of attempts.',
        querystring: ListQuery,
      },
      {
        200: json('A page of dead letters', DeadLetterPage, {
          page: { items: [EXAMPLE_DEAD_LETTER], nextCursor: null },
        }),
      },
      ['VALIDATION_FAILED'],
    ),
    async (request) => {
      const query = request.query as Record<string, string>;
      if (!checkList.Check(query)) invalidQuery(query);
      const limit = Math.min(1000, Math.max(1, Number(query.limit ?? 100)));
      let after: { at: string; id: string } | null = null;
      if (query.cursor) {
        const [at, id] = Buffer.from(query.cursor, 'base64url').toString('utf8').split('|');
        if (!at || !id || Number.isNaN(Date.parse(at)) || !isUuid(id)) invalid('"cursor" is not one this api returned', '/cursor');
        after = { at, id };
      }
      const items = await listDeadLetters(deps.pool, toDbFilter(query), limit + 1, after);
      const page = items.slice(0, limit);
      const last = page.at(-1);
      return {
        items: page,
        nextCursor: items.length > limit && last ? Buffer.from(`${last.movedToDlqAt}|${last.id}`).toString('base64url') : null,
      };
    },
  );

  app.post(
    '/v1/admin/dlq/replay',
    documented(
      {
        operationId: 'replayDeadLetters',
        summary: 'Send dead letters again',
        description:
          'Back to pending with a fresh retry budget, and enqueued. Atomic: the messages leave the DLQ only if all their jobs were enqueued. `filter` replays up to 10,000.',
        body: Type.With(Replay, {
          'x-examples': named({
            ids: { ids: [EXAMPLE_DEAD_LETTER.id] },
            filter: { filter: { channel: 'sms', since: '2025-01-31T00:00:00Z' } },
          }),
        }),
      },
      {
        200: json('Replayed', Type.Object({ replayed: Type.Integer(), ids: Type.Array(Type.String()) }), {
          replayed: { replayed: 1, ids: [EXAMPLE_DEAD_LETTER.id] },
        }),
      },
      BODY_ERRORS,
    ),
    async (request) => {
      if (!checkReplay.Check(request.body))
        invalid('the body must be {"ids": [message ids]} or {"filter": {tenant, channel, error, since, until}}');
      const body = request.body;
      const ids =
        'ids' in body ? body.ids : (await listDeadLetters(deps.pool, toDbFilter(body.filter), REPLAY_FILTER_MAX, null)).map((d) => d.id);
      // Atomic: the messages leave the DLQ only if all their jobs were enqueued (replayDeadLetters).
      const messages = await replayDeadLetters(deps.pool, ids, (moved) => enqueueReplays(deps.sendQueues, moved));
      request.log.info({ replayed: messages.length }, 'dead letters replayed');
      return { replayed: messages.length, ids: messages.map((m) => m.id) };
    },
  );
}
