import { isUuid, UUID_PATTERN, PROVIDER_CHANNELS, type ProviderChannel, type SendJobData } from '@esh3ar/contracts';
import { listDeadLetters, replayDeadLetters, type DlqFilter } from '@esh3ar/db';
import { enqueueReplays } from '@esh3ar/queue';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { apiError } from '../errors.ts';

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
const ListQuery = Type.Intersect([
  Filter,
  Type.Object({ limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })), cursor: Type.Optional(Type.String({ maxLength: 200 })) }),
]);
const Replay = Type.Union([
  Type.Object(
    { ids: Type.Array(Type.String({ pattern: UUID_PATTERN }), { minItems: 1, maxItems: 10_000 }) },
    { additionalProperties: false },
  ),
  Type.Object({ filter: Filter }, { additionalProperties: false }),
]);
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

function invalid(what: string): never {
  throw apiError('VALIDATION_FAILED', what, [{ path: '/', message: what }]);
}

/** GET /v1/admin/dlq and POST /v1/admin/dlq/replay (inside the admin scope: ADMIN_TOKEN). */
export function dlqAdminRoutes(app: FastifyInstance, deps: DlqRouteDeps): void {
  app.get('/v1/admin/dlq', async (request) => {
    const query = request.query as Record<string, string>;
    if (!checkList.Check(query))
      invalid('query: tenant (uuid), channel (sms|whatsapp|email), error (text), since/until (ISO time), limit (1-1000), cursor');
    const limit = Math.min(1000, Math.max(1, Number(query.limit ?? 100)));
    let after: { at: string; id: string } | null = null;
    if (query.cursor) {
      const [at, id] = Buffer.from(query.cursor, 'base64url').toString('utf8').split('|');
      if (!at || !id || Number.isNaN(Date.parse(at)) || !isUuid(id)) invalid('cursor is not one this api returned');
      after = { at, id };
    }
    const items = await listDeadLetters(deps.pool, toDbFilter(query), limit + 1, after);
    const page = items.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page,
      nextCursor: items.length > limit && last ? Buffer.from(`${last.movedToDlqAt}|${last.id}`).toString('base64url') : null,
    };
  });

  app.post('/v1/admin/dlq/replay', async (request) => {
    if (!checkReplay.Check(request.body)) invalid('body: {"ids": [message ids]} or {"filter": {tenant, channel, error, since, until}}');
    const body = request.body;
    const ids =
      'ids' in body ? body.ids : (await listDeadLetters(deps.pool, toDbFilter(body.filter), REPLAY_FILTER_MAX, null)).map((d) => d.id);
    // Atomic: the messages leave the DLQ only if all their jobs were enqueued (replayDeadLetters).
    const messages = await replayDeadLetters(deps.pool, ids, (moved) => enqueueReplays(deps.sendQueues, moved));
    request.log.info({ replayed: messages.length }, 'dead letters replayed');
    return { replayed: messages.length, ids: messages.map((m) => m.id) };
  });
}
