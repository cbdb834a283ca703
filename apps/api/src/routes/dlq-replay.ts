import { describeSchemaErrors, UUID_PATTERN, type ProviderChannel, type SendJobData } from '@esh3ar/contracts';
import { DlqReplayStopped, replayAllDeadLetters, replayDeadLetters, tallyDeadLetters } from '@esh3ar/db';
import { enqueueReplays, type ReplicaWait } from '@esh3ar/queue';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { Type, type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { apiError } from '../errors.ts';
import { BODY_ERRORS, json, named } from '../route-docs.ts';
import { documented, EXAMPLE_DEAD_LETTER, Filter, invalid, toDbFilter } from './dlq-filter.ts';

// Each page's rows stay locked until its jobs are in Redis: 1000 (as `esh3ar dlq replay
// --all`) commits well inside replayDeadLetters' 10 s idle-in-transaction limit, and 10,000
// is the most one ids replay takes in one transaction.
const PAGE_SIZE = { default: 1000, max: 10_000 };
// No page starts after 15 s: a page ends within its own 10 s transaction limit, so the answer
// leaves before nginx's proxy_read_timeout of 30 s (infra/nginx/nginx.conf) turns it into a 504
// while the replay goes on unheard.
const TIME_BUDGET_MS = 15_000;

const ReplayIds = Type.Object(
  { ids: Type.Array(Type.String({ pattern: UUID_PATTERN }), { minItems: 1, maxItems: 10_000 }) },
  { additionalProperties: false },
);
const ReplayFilter = Type.Object(
  {
    filter: Filter,
    limit: Type.Optional(Type.Integer({ minimum: 1, description: 'replay at most this many (default: every match)' })),
    pageSize: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: PAGE_SIZE.max,
        description: `dead letters per transaction (default ${PAGE_SIZE.default})`,
      }),
    ),
    dryRun: Type.Optional(Type.Boolean({ description: 'count what would be replayed, per tenant and channel; change nothing' })),
  },
  { additionalProperties: false },
);
const SHAPE = 'the body must be {"ids": [message ids]} or {"filter": {tenant, channel, error, since, until}, limit, pageSize, dryRun}';

const Replayed = Type.Object({
  replayed: Type.Integer(),
  ids: Type.Array(Type.String()),
  more: Type.Optional(
    Type.Boolean({
      description: 'a `filter` replay only: true when `limit` or the time budget ended it with matches left; the same request goes on',
    }),
  ),
});
const DryRun = Type.Object({
  dryRun: Type.Literal(true),
  wouldReplay: Type.Integer({ description: 'every match, or `limit` if fewer' }),
  more: Type.Boolean({ description: '`limit` leaves matches for another replay' }),
  groups: Type.Array(Type.Object({ tenantId: Type.String(), channel: Type.String(), count: Type.Integer() }), {
    description: 'every match per tenant and channel, the largest first',
  }),
});

const checkIds = Compile(ReplayIds);
const checkFilter = Compile(ReplayFilter);

function refused(errors: Parameters<typeof describeSchemaErrors>[0], schema: TSchema): never {
  const details = describeSchemaErrors(errors, { whole: 'the body', schema });
  throw apiError('VALIDATION_FAILED', details[0]?.message ?? SHAPE, details);
}

type Replay = Static<typeof ReplayIds> | Static<typeof ReplayFilter>;

/** The body, or a 400 naming the field that is wrong and how. */
function checked(body: unknown): Replay {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) invalid(SHAPE);
  if ('ids' in body && 'filter' in body) invalid('give "ids" or "filter", not both');
  if ('filter' in body) return checkFilter.Check(body) ? body : refused(checkFilter.Errors(body), ReplayFilter);
  if ('ids' in body) return checkIds.Check(body) ? body : refused(checkIds.Errors(body), ReplayIds);
  return invalid(SHAPE);
}

/** A replay that PostgreSQL or Redis failed: what was replayed before, in words (the cause is logged). */
function stopped(error: unknown, replayed: number) {
  const answer = apiError(
    'UNAVAILABLE',
    replayed === 0
      ? 'the database or the send queues are unreachable: no dead letter was replayed; retry shortly'
      : `the database or the send queues became unreachable after ${replayed} dead letters were replayed; the others are still in the DLQ: retry shortly`,
    [],
    1,
  );
  answer.cause = error;
  return answer;
}

export interface DlqRouteDeps {
  pool: pg.Pool;
  sendQueues: ReadonlyMap<ProviderChannel, Queue<SendJobData>>;
  /** Replicas a replayed page's send jobs must reach before the page commits (REDIS_WAIT_REPLICAS). */
  replicas?: ReplicaWait | undefined;
}

export function dlqReplayRoute(app: FastifyInstance, deps: DlqRouteDeps): void {
  const enqueue = (moved: Parameters<typeof enqueueReplays>[1]) => enqueueReplays(deps.sendQueues, moved, deps.replicas);
  app.post(
    '/v1/admin/dlq/replay',
    documented(
      {
        operationId: 'replayDeadLetters',
        summary: 'Send dead letters again',
        description:
          'Back to pending with a fresh retry budget, and enqueued; a page leaves the DLQ only once all its jobs are in Redis. ' +
          '`ids` are one page (all or none). `filter` replays every match, newest first, a page of `pageSize` per transaction, ' +
          `until \`limit\` or ${TIME_BUDGET_MS / 1000} s: then \`more\` says whether matches are left, and the same request goes on with them. ` +
          'A dead letter that arrives during the replay, or fails again, is left for the next one. ' +
          '`dryRun` answers how many would be replayed and changes nothing.',
        body: Type.With(Type.Union([ReplayIds, ReplayFilter]), {
          'x-examples': named({
            ids: { ids: [EXAMPLE_DEAD_LETTER.id] },
            filter: { filter: { channel: 'sms', since: '2025-01-31T00:00:00Z' } },
            limited: { filter: { tenant: EXAMPLE_DEAD_LETTER.tenantId }, limit: 50_000 },
            dryRun: { filter: { error: '21610' }, dryRun: true },
          }),
        }),
      },
      {
        200: json('Replayed, or (dryRun) counted', Type.Union([Replayed, DryRun]), {
          ids: { replayed: 1, ids: [EXAMPLE_DEAD_LETTER.id] },
          filter: { replayed: 1, ids: [EXAMPLE_DEAD_LETTER.id], more: false },
          dryRun: {
            dryRun: true,
            wouldReplay: 1200,
            more: false,
            groups: [
              { tenantId: EXAMPLE_DEAD_LETTER.tenantId, channel: 'sms', count: 1000 },
              { tenantId: EXAMPLE_DEAD_LETTER.tenantId, channel: 'whatsapp', count: 200 },
            ],
          },
        }),
      },
      BODY_ERRORS,
    ),
    async (request) => {
      const body = checked(request.body);
      if ('ids' in body) {
        // Atomic: the messages leave the DLQ only if all their jobs were enqueued (replayDeadLetters).
        const messages = await replayDeadLetters(deps.pool, body.ids, enqueue).catch((error: unknown) => {
          throw stopped(error, 0);
        });
        request.log.info({ replayed: messages.length }, 'dead letters replayed');
        return { replayed: messages.length, ids: messages.map((m) => m.id) };
      }
      const filter = toDbFilter(body.filter, '/filter');
      const limit = body.limit ?? null;
      if (body.dryRun === true) {
        const tally = await tallyDeadLetters(deps.pool, filter).catch((error: unknown) => {
          throw stopped(error, 0);
        });
        const wouldReplay = Math.min(tally.total, limit ?? Infinity);
        return { dryRun: true, wouldReplay, more: wouldReplay < tally.total, groups: tally.groups };
      }
      const deadline = Date.now() + TIME_BUDGET_MS;
      const run = await replayAllDeadLetters(
        deps.pool,
        filter,
        { pageSize: body.pageSize ?? PAGE_SIZE.default, limit, stop: () => Date.now() >= deadline },
        enqueue,
      ).catch((error: unknown) => {
        throw stopped(error, error instanceof DlqReplayStopped ? error.replayed.length : 0);
      });
      request.log.info({ replayed: run.ids.length, more: run.more, filter }, 'dead letters replayed');
      return { replayed: run.ids.length, ids: run.ids, more: run.more };
    },
  );
}
