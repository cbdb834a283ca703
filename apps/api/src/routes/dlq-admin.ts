import { describeSchemaErrors, isUuid } from '@esh3ar/contracts';
import { pageOfDeadLetters, type DlqCursor } from '@esh3ar/db';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { apiError } from '../errors.ts';
import { json } from '../route-docs.ts';
import { documented, EXAMPLE_DEAD_LETTER, Filter, invalid, postgresTime, toDbFilter } from './dlq-filter.ts';
import { dlqReplayRoute, type DlqRouteDeps } from './dlq-replay.ts';

// One object, not an intersection with Filter: Filter's additionalProperties refused limit and cursor.
const ListQuery = Type.Object(
  {
    ...Filter.properties,
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 1000 (default 100)' })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'nextCursor of the page before' })),
  },
  { additionalProperties: false },
);
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

const checkList = Compile(ListQuery);
// A cursor's time as pageOfDeadLetters gives it (microseconds) or as this api gave it before
// (milliseconds): in UTC, so no offset PostgreSQL would refuse reaches it.
const CURSOR_TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3,6}Z$/;

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
      const filter = toDbFilter(query, '');
      const limit = Math.min(1000, Math.max(1, Number(query.limit ?? 100)));
      let after: DlqCursor | null = null;
      if (query.cursor) {
        const [at, id] = Buffer.from(query.cursor, 'base64url').toString('utf8').split('|');
        if (!at || !CURSOR_TIME.test(at) || postgresTime(at) === null || !id || !isUuid(id))
          invalid('"cursor" is not one this api returned', '/cursor');
        after = { at, id };
      }
      const listed = await pageOfDeadLetters(deps.pool, filter, limit + 1, after);
      const page = listed.slice(0, limit);
      const last = page.at(-1)?.cursor;
      return {
        items: page.map((l) => l.letter),
        nextCursor: listed.length > limit && last ? Buffer.from(`${last.at}|${last.id}`).toString('base64url') : null,
      };
    },
  );

  dlqReplayRoute(app, deps);
}
