import { sampleBufferedMessage, type DeliveryItem } from '@esh3ar/contracts';
import { createPool, createTenant, storeBatch } from '@esh3ar/db';
import { createGatewayMetrics, createRegistry } from '@esh3ar/observability';
import { createDatabase, uuidv7, type ThrowawayDatabase } from '@esh3ar/stack';
import type pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { newConnection, type ConnectionState } from './connection.ts';
import { Replays } from './replays.ts';

// The replay's order when its connection turns slow mid-page and drains while the next
// page is being read: the interleaving is forced here (the drain runs inside that
// query), where through a real socket it happens only now and then.
let db: ThrowawayDatabase;
let pool: pg.Pool;
let tenantId: string;

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'gateway-replays');
  pool = createPool(db.url, { max: 2, applicationName: 'esh3ar-test-gateway-replays' });
  ({
    tenant: { id: tenantId },
  } = await createTenant(pool, { name: 'replays', tier: 'enterprise', rpm: null, burst: null }));
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

it('pushes each pending message once and in order when the connection turns slow mid-page and drains while the next page is read', async () => {
  const phone = '+966581234567';
  const rows = Array.from({ length: 9 }, (_, i) => ({
    message: sampleBufferedMessage({ id: uuidv7(), tenantId, recipient: phone, content: `message ${i}` }),
    state: { status: 'pending' as const, failureReason: null },
  }));
  await storeBatch(pool, rows);
  const stored = rows.map((r) => r.message.id);

  const socket = { readyState: 1, OPEN: 1 } as unknown as WebSocket;
  const connection = newConnection('c1', phone, null, socket);
  const slow = new Set<ConnectionState>();
  let owed = false;
  const received: string[] = [];
  let drainOnNextQuery = false;
  const pushes = {
    batch: (push: () => void) => push(),
    // As Pushes does: nothing to a slow reader (a replay is owed), never the same id twice.
    push(c: ConnectionState, item: DeliveryItem): void {
      if (slow.has(c)) {
        owed = true;
        return;
      }
      if (received.includes(item.id)) return;
      received.push(item.id);
      // The 4th message fills the socket: the rest of its page (3 a page) is skipped.
      if (received.length === 4) {
        slow.add(c);
        drainOnNextQuery = true;
      }
    },
  };
  const replayed: Promise<void>[] = [];
  const drain = () => {
    slow.delete(connection);
    if (owed && replays.hold(connection)) replayed.push(replays.replay(connection));
    owed = false;
  };
  const racingPool = {
    query: async (text: string, values: unknown[]) => {
      if (drainOnNextQuery) {
        drainOnNextQuery = false;
        drain();
      }
      return pool.query(text, values);
    },
  } as unknown as pg.Pool;
  const replays = new Replays({
    pool: racingPool,
    metrics: createGatewayMetrics(createRegistry('gateway')),
    logger: pino({ level: 'silent' }),
    pageSize: 3,
    atOnce: 1,
    pushes,
    slow: { has: (c) => slow.has(c), owe: () => (owed = true), send: () => undefined },
    stalled: () => false,
  });
  try {
    await replays.replay(connection);
    // The slow reader's drain arrives now if it did not arrive during a query.
    if (slow.size > 0) drain();
    while (replayed.length > 0) await replayed.shift();
    expect(received).toEqual(stored);
  } finally {
    replays.close();
  }
});
