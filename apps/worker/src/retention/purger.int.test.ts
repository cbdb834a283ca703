import {
  createDatabase,
  createPool,
  createTenant,
  getMessage,
  purgeMessages,
  setTenantWebhook,
  withRetentionLock,
  type ThrowawayDatabase,
} from '@esh3ar/db';
import { createRetentionMetrics, createWebhookMetrics } from '@esh3ar/observability';
import { DEFAULT_RUNTIME_CONFIG, type RuntimeConfig } from '@esh3ar/runtime';
import { uuidv7 } from '@esh3ar/stack';
import type pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RetentionPurger } from './purger.ts';

// The retention purge against real PostgreSQL, in-process. Time is set, not waited for:
// rows are written with their last change (updated_at, created_at) days in the past.

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar';
let db: ThrowawayDatabase;
let pool: pg.Pool;
/** Statements run on `pool`, by their sql/*.sql name. */
const statements = new Map<string, number>();
const purgers: RetentionPurger[] = [];

beforeAll(async () => {
  db = await createDatabase(DATABASE_URL, 'retention');
  pool = createPool(db.url, {
    max: 6,
    applicationName: 'retention-test',
    onStatement: (name) => statements.set(name, (statements.get(name) ?? 0) + 1),
  });
  pool.on('error', () => undefined); // the teardown's DROP … WITH (FORCE) ends the connections
});
afterEach(async () => {
  await Promise.all(purgers.splice(0).map((p) => p.close()));
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

function purger(settings: Partial<RuntimeConfig['retention']> = {}, batchSize?: number) {
  const registry = new Registry();
  const metrics = createRetentionMetrics(registry);
  const webhookMetrics = createWebhookMetrics(registry);
  const retention = { ...DEFAULT_RUNTIME_CONFIG.retention, ...settings };
  // An hour between runs: every run in these tests is started by the test.
  const p = new RetentionPurger({
    pool,
    logger: pino({ level: 'silent' }),
    metrics,
    webhookMetrics,
    settings: () => retention,
    intervalMs: 3_600_000,
    batchSize,
  });
  purgers.push(p);
  const value = async (name: string, labels: Record<string, string> = {}) =>
    (await registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ??
    0;
  return { purger: p, retention, value };
}

interface Row {
  status?: string;
  /** Days since the last change. */
  changed: number;
  /** Days since it was accepted (at least `changed`). */
  created?: number;
  events?: number;
  providerCallFor?: number;
}

/** A message of `tenantId` with `events` events, last changed `changed` days ago. */
async function message(tenantId: string, row: Row): Promise<string> {
  const id = uuidv7();
  const { status = 'delivered', changed, created = changed, events = 2, providerCallFor } = row;
  await pool.query(
    `INSERT INTO messages (id, tenant_id, recipient, channel, priority, content, status, created_at, stored_at, updated_at, moved_to_dlq_at, provider_call_until)
     VALUES ($1, $2, '+966500000000', 'sms', 1, 'hello', $3, now() - make_interval(days => $4), now() - make_interval(days => $4),
       now() - make_interval(days => $5), CASE WHEN $3 = 'dead_letter' THEN now() - make_interval(days => $5) END,
       CASE WHEN $6::int IS NOT NULL THEN now() + make_interval(secs => $6::int) END)`,
    [id, tenantId, status, created, changed, providerCallFor ?? null],
  );
  await pool.query(
    `INSERT INTO message_events (message_id, status, at, detail)
     SELECT $1, 'sent', now() - make_interval(days => $3), 'event ' || g FROM generate_series(1, $2) g`,
    [id, events, changed],
  );
  return id;
}

async function eventCount(ids: readonly string[]): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM message_events WHERE message_id = ANY($1::uuid[])', [
    ids,
  ]);
  return rows[0]!.n;
}

async function existing(ids: readonly string[]): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>('SELECT id FROM messages WHERE id = ANY($1::uuid[]) ORDER BY id', [ids]);
  return rows.map((r) => r.id);
}

/** `count` waiting webhook events of `tenantId`, written `daysAgo` days ago; their ids, oldest first. */
async function outbox(tenantId: string, count: number, daysAgo = 0): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO webhook_outbox (tenant_id, message_id, status, at, created_at)
     SELECT $1, gen_random_uuid(), 'sent', now() - make_interval(days => $3), now() - make_interval(days => $3) FROM generate_series(1, $2)
     RETURNING id`,
    [tenantId, count, daysAgo],
  );
  return rows.map((r) => r.id).sort((a, b) => Number(BigInt(a) - BigInt(b)));
}

async function outboxIds(tenantId: string): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>('SELECT id FROM webhook_outbox WHERE tenant_id = $1 ORDER BY id', [tenantId]);
  return rows.map((r) => r.id);
}

async function tenantWithWebhook(): Promise<string> {
  const { tenant } = await createTenant(pool, { name: 'retention', tier: 'basic' });
  await setTenantWebhook(pool, tenant.id, 'http://127.0.0.1:9/hooks');
  return tenant.id;
}

describe('retention of messages', () => {
  it('deletes a message whose last change is older than retention.days with its events, whatever its status; GET finds nothing', async () => {
    const tenantId = uuidv7();
    const gone = [
      await message(tenantId, { status: 'delivered', changed: 31, events: 3 }),
      // The contract counts from the last change, not from a final status: a message left
      // pending for 40 days goes too (an app message whose phone never came back, say).
      await message(tenantId, { status: 'pending', changed: 40, events: 1 }),
      await message(tenantId, { status: 'dead_letter', changed: 60, events: 4 }),
    ];
    const kept = [
      await message(tenantId, { status: 'delivered', changed: 0, events: 2 }),
      // Accepted 90 days ago, replayed from the DLQ 29 days ago: its last change is recent.
      await message(tenantId, { status: 'pending', created: 90, changed: 29, events: 5 }),
      // Old, but a provider call is in progress: its outcome is about to change it.
      await message(tenantId, { status: 'pending', changed: 45, events: 1, providerCallFor: 60 }),
    ];
    const { purger: p, value } = purger();

    const report = await p.runOnce();

    expect(report).toMatchObject({ messages: 3, events: 8 });
    expect(await existing([...gone, ...kept])).toEqual([...kept].sort());
    expect(await eventCount(gone)).toBe(0);
    expect(await eventCount(kept)).toBe(8);
    // What GET /v1/messages/{id} answers from: null is its 404.
    for (const id of gone) expect(await getMessage(pool, tenantId, id)).toBeNull();
    for (const id of kept) expect(await getMessage(pool, tenantId, id)).toMatchObject({ id });
    expect(await value('esh3ar_retention_deleted_rows_total', { table: 'messages' })).toBe(3);
    expect(await value('esh3ar_retention_deleted_rows_total', { table: 'message_events' })).toBe(8);
    expect(await value('esh3ar_retention_deleted_rows_total', { table: 'webhook_outbox' })).toBe(0);
    expect(await value('esh3ar_retention_runs_total', { outcome: 'done' })).toBe(1);
    expect(await value('esh3ar_retention_last_run_duration_seconds')).toBeGreaterThan(0);

    // A second run finds nothing left to do.
    expect(await p.runOnce()).toMatchObject({ messages: 0, events: 0, outbox: 0 });
  });

  it('follows retention.days as the runtime configuration sets it, at each run', async () => {
    const tenantId = uuidv7();
    const twelveDays = await message(tenantId, { changed: 12 });
    const fiveDays = await message(tenantId, { changed: 5 });
    const { purger: p, retention } = purger();
    await p.runOnce();
    expect(await existing([twelveDays, fiveDays])).toHaveLength(2);
    retention.days = 10;
    await p.runOnce();
    expect(await existing([twelveDays, fiveDays])).toEqual([fiveDays]);
  });

  it('purges a large backlog in statements of at most the batch size', async () => {
    const tenantId = uuidv7();
    await pool.query(
      `WITH m AS (
         INSERT INTO messages (id, tenant_id, recipient, channel, priority, content, status, created_at, stored_at, updated_at)
         SELECT gen_random_uuid(), $1, '+966500000000', 'sms', 1, 'hello', 'delivered', t, t, t
         FROM generate_series(1, 5200) g, LATERAL (SELECT now() - interval '31 days' - g * interval '1 second' AS t) x
         RETURNING id, updated_at
       )
       INSERT INTO message_events (message_id, status, at) SELECT id, s, updated_at FROM m, (VALUES ('sent'), ('delivered')) v(s)`,
      [tenantId],
    );
    const { purger: p } = purger({}, 500);
    const before = statements.get('retention-messages') ?? 0;

    const report = await p.runOnce();

    expect(report).toMatchObject({ messages: 5200, events: 10_400, largestBatch: 500 });
    // Ten full statements and the one that found fewer than 500 and ended the loop.
    expect((statements.get('retention-messages') ?? 0) - before).toBe(11);
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM messages WHERE tenant_id = $1', [tenantId]);
    expect(rows[0]!.n).toBe(0);
  });
});

describe('purgers at the same time', () => {
  it('two purge statements racing delete each row once and neither waits for the other', async () => {
    const tenantId = uuidv7();
    const ids = await Promise.all(Array.from({ length: 40 }, () => message(tenantId, { changed: 35, events: 1 })));
    // Purger A deletes its batch and holds it, uncommitted: its rows stay locked.
    const a = await pool.connect();
    // A purger that waited for A's locks would hit this instead of answering.
    const other = createPool(db.url, { max: 1, applicationName: 'retention-test-b', statementTimeoutMs: 5000 });
    other.on('error', () => undefined);
    try {
      await a.query('BEGIN');
      const first = await purgeMessages(a, 30, 25);
      expect(first).toEqual({ messages: 25, events: 25 });

      const second = await purgeMessages(other, 30, 25);
      expect(second).toEqual({ messages: 15, events: 15 });
      // What A holds is skipped, not waited for, and not deleted twice.
      expect(await purgeMessages(other, 30, 25)).toEqual({ messages: 0, events: 0 });

      await a.query('COMMIT');
      expect(await existing(ids)).toEqual([]);
      expect(await eventCount(ids)).toBe(0);
    } finally {
      a.release();
      await other.end();
    }
  });

  it('one worker purges at a time: a run finding the lock held deletes nothing and says so', async () => {
    const id = await message(uuidv7(), { changed: 31 });
    const { purger: p, value } = purger();
    const whileHeld = await withRetentionLock(pool, () => p.runOnce());
    expect(whileHeld).toBeNull();
    expect(await value('esh3ar_retention_runs_total', { outcome: 'locked' })).toBe(1);
    expect(await existing([id])).toEqual([id]);
    // The lock went with the run that held it.
    expect(await p.runOnce()).toMatchObject({ messages: 1 });
    expect(await existing([id])).toEqual([]);
  });
});

describe('retention of webhook events', () => {
  it('deletes events older than retention.days and those of tenants without a webhook; keeps what a live endpoint waits for', async () => {
    const live = await tenantWithWebhook();
    const { tenant: removed } = await createTenant(pool, { name: 'no webhook', tier: 'basic' });
    const old = await outbox(live, 3, 31);
    const waiting = await outbox(live, 4, 1);
    // An event written just after its tenant's webhook was removed: nothing will send it.
    await outbox(removed.id, 5, 0);
    const { purger: p, value } = purger();

    const report = await p.runOnce();

    expect(report).toMatchObject({ outbox: old.length + 5, dropped: 0 });
    expect(await outboxIds(live)).toEqual(waiting);
    expect(await outboxIds(removed.id)).toEqual([]);
    expect(await value('esh3ar_retention_deleted_rows_total', { table: 'webhook_outbox' })).toBe(8);
  });

  it('keeps at most retention.webhookBacklogMax events per failing endpoint, dropping the oldest and counting them', async () => {
    const dead = await tenantWithWebhook();
    const small = await tenantWithWebhook();
    const live = await tenantWithWebhook();
    await pool.query(
      `UPDATE tenant_webhooks SET failures = 12, failing_since = now() - interval '2 hours' WHERE tenant_id = ANY($1::uuid[])`,
      [[dead, small]],
    );
    const deadIds = await outbox(dead, 250);
    const smallIds = await outbox(small, 80);
    // Over the cap too, but answering: it is draining its backlog, none of which is dropped.
    const liveIds = await outbox(live, 130);
    const { purger: p, value } = purger({ webhookBacklogMax: 100 }, 60);

    const report = await p.runOnce();

    expect(report).toMatchObject({ dropped: 150, outbox: 150 });
    // 60 + 60 + 30, each statement at most the batch size.
    expect(report!.largestBatch).toBe(60);
    expect(await outboxIds(dead)).toEqual(deadIds.slice(150));
    expect(await outboxIds(small)).toEqual(smallIds);
    expect(await outboxIds(live)).toEqual(liveIds);
    expect(await value('esh3ar_webhook_events_dropped_total')).toBe(150);
    expect(await value('esh3ar_retention_deleted_rows_total', { table: 'webhook_outbox' })).toBe(150);
    expect(await p.runOnce()).toMatchObject({ dropped: 0 });
  });
});
