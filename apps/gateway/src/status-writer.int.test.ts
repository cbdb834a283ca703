import { sampleBufferedMessage } from '@esh3ar/contracts';
import { createPool, createTenant, storeBatch } from '@esh3ar/db';
import { createGatewayMetrics, createLogger, createRegistry } from '@esh3ar/observability';
import { createDatabase, uuidv7, type ThrowawayDatabase } from '@esh3ar/stack';
import type pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { StatusWriter } from './status-writer.ts';

let db: ThrowawayDatabase;
let pool: pg.Pool;
let tenantId: string;

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'gateway-status-writer');
  pool = createPool(db.url, { max: 2, applicationName: 'esh3ar-test-gateway-status-writer' });
  ({
    tenant: { id: tenantId },
  } = await createTenant(pool, { name: 'status writer', tier: 'enterprise', rpm: null, burst: null }));
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

it('leaves out the sent marks of messages whose acks the same flush wrote; the others are written', async () => {
  const phone = '+966581230000';
  const rows = Array.from({ length: 3 }, () => ({
    message: sampleBufferedMessage({ id: uuidv7(), tenantId, recipient: phone }),
    state: { status: 'pending' as const, failureReason: null },
  }));
  await storeBatch(pool, rows);
  const [acked, pushed, ackedToo] = rows.map((r) => r.message.id) as [string, string, string];
  // Every statement's parameters, in order.
  const statements: unknown[][] = [];
  const counting = {
    query: (text: string, values: unknown[]) => {
      statements.push(values);
      return pool.query(text, values);
    },
  } as unknown as pg.Pool;
  const status = new StatusWriter(counting, createLogger('gateway', 'silent'), createGatewayMetrics(createRegistry('gateway')), 'g1', {
    flushMs: 60_000,
    maxPending: 1000,
  });
  try {
    for (const id of [acked, pushed, ackedToo]) status.sent(id);
    status.delivered({ id: acked, recipient: phone, at: new Date() });
    status.delivered({ id: ackedToo, recipient: phone, at: new Date() });
    await status.flush();
    expect(status.pending).toBe(0);
    // The acks, then the one sent mark left.
    expect(statements.map((values) => values[0])).toEqual([[acked, ackedToo], [pushed]]);
    const { rows: stored } = await pool.query<{ id: string; status: string }>(
      `SELECT id::text, status FROM messages WHERE id = ANY($1::uuid[]) ORDER BY id`,
      [[acked, pushed, ackedToo]],
    );
    expect(stored).toEqual([
      { id: acked, status: 'delivered' },
      { id: pushed, status: 'sent' },
      { id: ackedToo, status: 'delivered' },
    ]);

    // Nothing left to mark sent: no statement for it at all.
    statements.length = 0;
    status.sent(pushed);
    status.delivered({ id: pushed, recipient: phone, at: new Date() });
    await status.flush();
    expect(statements.map((values) => values[0])).toEqual([[pushed]]);
    expect(status.pending).toBe(0);
  } finally {
    await status.close();
  }
});
