import { randomUUID } from 'node:crypto';
import { sampleBufferedMessage, type BufferedMessage } from '@esh3ar/contracts';
import fc from 'fast-check';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { storeBatch, type RowToStore } from './copy-writer.ts';
import { createPool } from './pool.ts';
import { listDeadLetters, replayDeadLetters } from './dead-letters.ts';
import { NO_TENANT } from './storable-row.ts';
import { createDatabase, type ThrowawayDatabase } from './throwaway-database.ts';

// Messages PostgreSQL cannot take as they are, in the batches of messages it can: the good
// ones must be stored as sent, exactly once, by one COPY; the others as `failed` (or dead
// letters) with why; and storeBatch must resolve whatever the text.

let pool: pg.Pool;
let db: ThrowawayDatabase;
/** Statements run, by name (sql/*.sql file or verb), since the last reset. */
const statements = new Map<string, number>();
const tenants = [randomUUID(), randomUUID()];

/** Text as PostgreSQL can hold it: what the writer is expected to store for hostile text. */
const storable = (s: string) => s.replaceAll('\u0000', '\uFFFD').toWellFormed();

function row(over: Partial<BufferedMessage> = {}): RowToStore {
  return {
    message: sampleBufferedMessage({ id: uuidv7(), tenantId: tenants[0], ...over }),
    state: { status: 'pending', failureReason: null },
  };
}

interface Stored {
  id: string;
  tenant_id: string;
  status: string;
  recipient: string;
  subject: string | null;
  content: string;
  metadata: Record<string, string> | null;
  idempotency_key: string | null;
  ttl_seconds: number | null;
  failure_reason: string | null;
  copies: number;
}

async function stored(rows: readonly RowToStore[]): Promise<Map<string, Stored>> {
  const { rows: found } = await pool.query<Stored>(
    `SELECT id, tenant_id, status, recipient, subject, content, metadata, idempotency_key, ttl_seconds, failure_reason, count(*) OVER (PARTITION BY id)::int AS copies
     FROM messages WHERE id = ANY($1)`,
    [rows.map((r) => r.message.id)],
  );
  return new Map(found.map((s) => [s.id, s]));
}

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'copy-refusals');
  // One connection: a batch after a fallback runs on the connection that fell back.
  pool = createPool(db.url, {
    max: 1,
    applicationName: 'copy-refusals-test',
    onStatement: (name) => statements.set(name, (statements.get(name) ?? 0) + 1),
  });
  pool.on('error', () => undefined); // the teardown's DROP ... WITH (FORCE) ends the connection
});
beforeEach(() => statements.clear());
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('storeBatch with text PostgreSQL cannot hold', () => {
  it('after a batch fell back row by row, stores the next one on the same connection by COPY', async () => {
    // A TTL beyond integer range makes PostgreSQL refuse the COPY (22003): the row-by-row
    // fallback. The staging table was created in that rolled-back transaction.
    const first = await storeBatch(pool, [row({ ttlSeconds: 2_000_000_000_000 }), row()]);
    expect(first.inserted).toBe(2);
    expect(first.refused).toHaveLength(1);
    statements.clear();
    const next = await storeBatch(pool, [row({ content: 'after the fallback' }), row()]);
    expect(next).toMatchObject({ inserted: 2, duplicates: 0, refused: [], settled: [] });
    // Straight into messages: none of its ids was stored, so no staging table and no merge.
    expect(statements.get('merge-staging')).toBeUndefined();
    expect(statements.get('insert-message')).toBeUndefined();
  });

  it('stores the hostile messages of a batch as failed, replaced and explained, and the others byte-exact by one COPY', async () => {
    const good = [
      row({
        content: 'tab\there, newline\nthere, backslash \\ and \\N, emoji 😀, Arabic مرحبا',
        metadata: { orderId: '1234', ключ: 'значение' },
      }),
      row({ tenantId: tenants[1], channel: 'email', recipient: 'someone@example.com', subject: 'Order 1234', content: 'hello' }),
      row({ tenantId: tenants[1], priority: 'critical', content: '\\.', idempotencyKey: 'key-1' }),
    ];
    const hostile = {
      recipient: row({ channel: 'email', recipient: 'a\u0000b@example.com', content: 'NUL in the recipient' }),
      metadataKey: row({ tenantId: tenants[1], metadata: { 'k\u0000': 'v', plain: 'kept' }, content: 'NUL in a metadata key' }),
      content: row({ content: 'lone \ud83d surrogate, and a pair 😀 kept', ttlSeconds: 60 }),
      subject: row({ tenantId: tenants[1], subject: 'sub\u0000ject', content: 'NUL in the subject' }),
      metadataValue: row({ metadata: { k: 'lone low \udc00' } }),
      idempotencyKey: row({ idempotencyKey: 'key\u0000' }),
    };
    const batch = [
      good[0]!,
      hostile.recipient,
      good[1]!,
      hostile.metadataKey,
      hostile.content,
      hostile.subject,
      hostile.metadataValue,
      hostile.idempotencyKey,
      good[2]!,
    ];

    const result = await storeBatch(pool, batch);
    expect(result).toMatchObject({ inserted: 9, failed: 6, parked: 0, duplicates: 0 });
    expect(new Set(result.refused.map((r) => r.id))).toEqual(new Set(Object.values(hostile).map((h) => h.message.id)));
    // The good rows in one COPY straight into messages; only the hostile ones one by one.
    expect(statements.get('merge-staging')).toBeUndefined();
    expect(statements.get('insert-message')).toBe(6);

    const rows = await stored(batch);
    for (const g of good) {
      const m = g.message;
      expect(rows.get(m.id)).toMatchObject({
        status: 'pending',
        copies: 1,
        tenant_id: m.tenantId,
        recipient: m.recipient,
        subject: m.subject,
        content: m.content,
        metadata: m.metadata,
        idempotency_key: m.idempotencyKey,
        failure_reason: null,
      });
    }
    for (const [field, h] of Object.entries(hostile)) {
      const m = h.message;
      const metadata =
        m.metadata === null ? null : Object.fromEntries(Object.entries(m.metadata).map(([k, v]) => [storable(k), storable(v)]));
      expect(rows.get(m.id), field).toMatchObject({
        status: 'failed',
        copies: 1,
        tenant_id: m.tenantId,
        recipient: storable(m.recipient),
        subject: m.subject === null ? null : storable(m.subject),
        content: storable(m.content),
        metadata,
        idempotency_key: m.idempotencyKey === null ? null : storable(m.idempotencyKey),
        ttl_seconds: m.ttlSeconds,
        failure_reason: expect.stringContaining('replaced by U+FFFD'),
      });
    }
    expect(rows.get(hostile.recipient.message.id)?.failure_reason).toContain('in recipient');
    expect(rows.get(hostile.metadataKey.message.id)?.failure_reason).toContain('in metadata keys');
    expect(rows.get(hostile.content.message.id)?.content).toBe('lone \uFFFD surrogate, and a pair 😀 kept');

    // A retried batch stores nothing twice, and still names the rows not stored as sent
    // (the worker must not dispatch them).
    const again = await storeBatch(pool, batch);
    expect(again).toMatchObject({ inserted: 0, failed: 0, parked: 0, duplicates: 9 });
    expect(again.refused.map((r) => r.id).sort()).toEqual(result.refused.map((r) => r.id).sort());
  });

  it('keeps a row PostgreSQL refuses even as failed as a dead letter, in the DLQ listing, and its batch stored', async () => {
    const badTenant = row({ tenantId: 'not-a-uuid\u0000', content: 'whose tenant?' });
    const badTime = row({ tenantId: tenants[1], acceptedAt: 'not a time', content: 'when?' });
    // With a TTL, JavaScript cannot even compute the expiry to encode the row.
    const badTimeWithTtl = row({ acceptedAt: 'not a time either', ttlSeconds: 60, content: 'until when?' });
    const good = [row({ content: 'fine 1' }), row({ tenantId: tenants[1], content: 'fine 2' })];
    const parked = [badTenant, badTime, badTimeWithTtl];
    const result = await storeBatch(pool, [good[0]!, badTenant, badTime, good[1]!, badTimeWithTtl]);
    expect(result).toMatchObject({ inserted: 5, failed: 0, parked: 3, duplicates: 0 });
    expect(result.refused).toEqual([
      { id: badTenant.message.id, as: 'dead_letter', reason: expect.stringContaining('is not a UUID') },
      { id: badTime.message.id, as: 'dead_letter', reason: expect.stringContaining('is not a time') },
      { id: badTimeWithTtl.message.id, as: 'dead_letter', reason: expect.stringMatching(/cannot be encoded.*is not a time/) },
    ]);
    const rows = await stored([...good, ...parked]);
    for (const g of good) expect(rows.get(g.message.id)).toMatchObject({ status: 'pending', content: g.message.content });
    expect(rows.get(badTenant.message.id)).toMatchObject({ status: 'dead_letter', tenant_id: NO_TENANT, content: 'whose tenant?' });
    expect(rows.get(badTime.message.id)).toMatchObject({ status: 'dead_letter', tenant_id: tenants[1], content: 'when?' });
    expect(rows.get(badTimeWithTtl.message.id)).toMatchObject({ status: 'dead_letter', content: 'until when?', ttl_seconds: null });

    const listed = await listDeadLetters(pool, {}, 100, null);
    expect(listed.map((d) => d.id).sort()).toEqual(parked.map((p) => p.message.id).sort());
    expect(listed.find((d) => d.id === badTenant.message.id)).toMatchObject({
      tenantId: NO_TENANT,
      failureReason: expect.stringContaining('refused by the database'),
    });
    const { rows: events } = await pool.query('SELECT message_id, status FROM message_events WHERE message_id = ANY($1)', [
      parked.map((p) => p.message.id),
    ]);
    expect(events).toEqual(expect.arrayContaining(parked.map((p) => ({ message_id: p.message.id, status: 'dead_letter' }))));

    // A dead letter kept without its tenant is listed but never replayed: it would go to nobody.
    const enqueued: string[] = [];
    const replayed = await replayDeadLetters(
      pool,
      parked.map((p) => p.message.id),
      async (messages) => {
        enqueued.push(...messages.map((m) => m.id));
      },
    );
    expect(replayed.map((m) => m.id).sort()).toEqual([badTime.message.id, badTimeWithTtl.message.id].sort());
    expect(enqueued).not.toContain(badTenant.message.id);
    expect((await stored([badTenant])).get(badTenant.message.id)).toMatchObject({ status: 'dead_letter' });
  });

  it('property: whatever the text, each message is stored once, byte-exact and pending or replaced and failed, and the batch never fails', async () => {
    // Mostly any code point, now and then one PostgreSQL or UTF-8 cannot hold.
    const unit = fc.oneof(
      { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 30 },
      { arbitrary: fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff'), weight: 1 },
    );
    const text = fc.string({ unit, maxLength: 60 });
    const message = fc.record({
      tenant: fc.constantFrom(...tenants),
      recipient: text,
      subject: fc.option(text, { nil: null }),
      content: text,
      metadata: fc.option(fc.dictionary(fc.string({ unit, maxLength: 8 }), text, { maxKeys: 3 }), { nil: null }),
      idempotencyKey: fc.option(text, { nil: null }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 25 }), async (items) => {
        const rows = items.map((i) =>
          row({
            tenantId: i.tenant,
            recipient: i.recipient,
            subject: i.subject,
            content: i.content,
            metadata: i.metadata,
            idempotencyKey: i.idempotencyKey,
          }),
        );
        const result = await storeBatch(pool, rows);
        expect(result.inserted + result.duplicates).toBe(rows.length);
        const found = await stored(rows);
        const refused = new Set(result.refused.map((r) => r.id));
        for (const r of rows) {
          const m = r.message;
          const texts = [m.recipient, m.subject, m.content, m.idempotencyKey, ...Object.entries(m.metadata ?? {}).flat()].filter(
            (t) => t !== null,
          );
          const hostile = texts.some((t) => t !== storable(t));
          const s = found.get(m.id)!;
          expect(s.copies).toBe(1);
          expect(s.status).toBe(hostile ? 'failed' : 'pending');
          expect(refused.has(m.id)).toBe(hostile);
          expect(s.recipient).toBe(storable(m.recipient));
          expect(s.subject).toBe(m.subject === null ? null : storable(m.subject));
          expect(s.content).toBe(storable(m.content));
          expect(s.idempotency_key).toBe(m.idempotencyKey === null ? null : storable(m.idempotencyKey));
          expect(s.metadata).toEqual(
            m.metadata === null ? null : Object.fromEntries(Object.entries(m.metadata).map(([k, v]) => [storable(k), storable(v)])),
          );
        }
      }),
      { numRuns: 60 },
    );
  });
});
