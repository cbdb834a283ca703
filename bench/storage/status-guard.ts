/**
 * What the status-graph guard (migration 0006, trigger messages_status_graph) costs the
 * status writes it checks, as a ratio to the same writes with the trigger disabled, in one
 * run on a throwaway database: 5000 messages marked sent, then delivered, as the gateway's
 * status writer batches them.
 * `node bench/storage/status-guard.ts`; not part of `pnpm test` or `pnpm bench`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { sampleBufferedMessage } from '@esh3ar/contracts';
import { createPool, markDelivered, markSent, storeBatch, type RowToStore } from '../../packages/db/src/index.ts';
import { createDatabase } from '@esh3ar/stack';

const BATCH = 5000;
const ROUNDS = 30;
const WARM_UP = 5;
const RECIPIENT = '+966501234567';

const db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'bench-status-guard');
const pool = createPool(db.url, { max: 2, applicationName: 'bench-status-guard' });
const tenantId = randomUUID();

interface Config {
  name: string;
  guard: boolean;
  ms: number;
}

async function round(config: Config, counted: boolean): Promise<void> {
  await pool.query(`ALTER TABLE messages ${config.guard ? 'ENABLE' : 'DISABLE'} TRIGGER messages_status_graph`);
  const rows: RowToStore[] = Array.from({ length: BATCH }, () => ({
    message: sampleBufferedMessage({ tenantId, recipient: RECIPIENT, content: randomBytes(24).toString('base64') }),
    state: { status: 'pending', failureReason: null },
  }));
  const ids = rows.map((r) => r.message.id);
  await storeBatch(pool, rows);
  const t0 = performance.now();
  await markSent(pool, ids, 'pushed');
  await markDelivered(
    pool,
    ids.map((id) => ({ id, recipient: RECIPIENT, at: new Date() })),
  );
  if (counted) config.ms += performance.now() - t0;
}

try {
  const configs: Config[] = [
    { name: 'no guard', guard: false, ms: 0 },
    { name: 'guard', guard: true, ms: 0 },
  ];
  // Interleaved, in rotating order: the tables grow as rounds go, and both must see the same sizes.
  for (let r = 0; r < ROUNDS + WARM_UP; r++) {
    for (let i = 0; i < configs.length; i++) await round(configs[(r + i) % configs.length]!, r >= WARM_UP);
  }
  const [base] = configs;
  for (const c of configs) {
    console.log(
      `${c.name.padEnd(10)} ${BATCH} sent + ${BATCH} delivered: ${(c.ms / ROUNDS).toFixed(1)} ms (${(c.ms / base!.ms).toFixed(2)}×)`,
    );
  }
} finally {
  await pool.end();
  await db.drop();
}
