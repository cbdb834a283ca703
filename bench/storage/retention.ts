/**
 * What the retention purge (sql/retention-messages.sql) costs, on a throwaway database:
 * how many rows a second it deletes, how long one batch statement takes, and how much of
 * their rate concurrent COPY inserts (storeBatch, 1000 rows each, as a worker writes)
 * keep while it runs, as a ratio to the same inserts alone in the same run. A backlog of
 * BENCH_RETENTION_MESSAGES (2000000) delivered messages with 3 events each, last changed
 * 40 days ago; each phase lasts BENCH_RETENTION_SECONDS (3), for batches of 1000 and 5000
 * back to back and for batches of 1000 paced (a pause as long as each statement took),
 * twice in rotating order. Last, how long CREATE INDEX messages_updated_at_idx (migration
 * 0009) takes on the rows left.
 * `node bench/storage/retention.ts`; not part of `pnpm test` or `pnpm bench`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { sampleBufferedMessage } from '@esh3ar/contracts';
import { createDatabase } from '@esh3ar/stack';
import { createPool, purgeMessages, storeBatch, type RowToStore } from '../../packages/db/src/index.ts';
import { sql } from '../../packages/db/src/sql-files.ts';

const MESSAGES = Number(process.env.BENCH_RETENTION_MESSAGES ?? 2_000_000);
const SECONDS = Number(process.env.BENCH_RETENTION_SECONDS ?? 3);
/** Messages per statement; paced: after each statement, a pause as long as it took (the purger's pacing). */
const CONFIGS = [
  { size: 1000, paced: false },
  { size: 5000, paced: false },
  { size: 1000, paced: true },
];
const ROUNDS = 2;
const INSERT_BATCH = 1000;

const db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'bench-retention');
const pool = createPool(db.url, { max: 4, applicationName: 'bench-retention' });
const tenantId = randomUUID();

/** COPY inserts of fresh pending messages until `stop` resolves; rows stored. */
async function insertUntil(stop: Promise<void>): Promise<number> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  let rows = 0;
  while (!stopped) {
    const batch: RowToStore[] = Array.from({ length: INSERT_BATCH }, () => ({
      message: sampleBufferedMessage({ tenantId, content: randomBytes(60).toString('base64') }),
      state: { status: 'pending', failureReason: null },
    }));
    rows += (await storeBatch(pool, batch)).inserted;
  }
  return rows;
}

interface PurgeRun {
  messages: number;
  events: number;
  statementMs: number[];
}

/** Purge batches of `size` until `stop` resolves (or the backlog is gone). */
async function purgeUntil(stop: Promise<void>, { size, paced }: (typeof CONFIGS)[number]): Promise<PurgeRun> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  const run: PurgeRun = { messages: 0, events: 0, statementMs: [] };
  while (!stopped) {
    const t0 = performance.now();
    const { messages, events } = await purgeMessages(pool, 30, size);
    const ms = performance.now() - t0;
    run.statementMs.push(ms);
    if (paced) await new Promise((resolve) => setTimeout(resolve, ms));
    run.messages += messages;
    run.events += events;
    if (messages === 0) throw new Error(`the backlog ran out: raise BENCH_RETENTION_MESSAGES above ${MESSAGES}`);
  }
  return run;
}

const after = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

try {
  const t0 = performance.now();
  await pool.query(
    `INSERT INTO messages (id, tenant_id, recipient, channel, priority, content, status, created_at, stored_at, updated_at, delivered_at)
     SELECT gen_random_uuid(), $1, '+966501234567', 'app', 1, md5(g::text) || md5(g::text), 'delivered', t, t, t, t
     FROM generate_series(1, $2) g, LATERAL (SELECT now() - interval '40 days' - g * interval '1 second' AS t) x`,
    [tenantId, MESSAGES],
  );
  await pool.query(
    `INSERT INTO message_events (message_id, status, at, detail)
     SELECT m.id, e.status, m.updated_at, e.detail FROM messages m
     CROSS JOIN (VALUES ('pending', 'attempt failed: timeout'), ('sent', 'pushed'), ('delivered', 'acknowledged by the device')) e(status, detail)`,
  );
  await pool.query('VACUUM ANALYZE messages');
  await pool.query('VACUUM ANALYZE message_events');
  console.log(
    `backlog: ${MESSAGES} messages, ${3 * MESSAGES} events, 40 days old (${((performance.now() - t0) / 1000).toFixed(1)} s to write)`,
  );
  const plan = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (COSTS OFF) ${sql('retention-messages')}`, [30, 1000]);
  const scans = plan.rows.map((r) => r['QUERY PLAN'].trim()).filter((line) => /Scan/.test(line));
  console.log(`plan: ${scans.join('; ')}`);

  type Result = { alone: number[]; together: number[]; purgeTogether: PurgeRun[]; purgeAlone: PurgeRun[] };
  const results = CONFIGS.map((): Result => ({ alone: [], together: [], purgeTogether: [], purgeAlone: [] }));
  // Rotating order: the tables change as rounds go, and every configuration must see the same.
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < CONFIGS.length; i++) {
      const at = (round + i) % CONFIGS.length;
      const r = results[at]!;
      r.alone.push(await insertUntil(after(SECONDS)));
      const stop = after(SECONDS);
      const [inserted, purged] = await Promise.all([insertUntil(stop), purgeUntil(stop, CONFIGS[at]!)]);
      r.together.push(inserted);
      r.purgeTogether.push(purged);
      r.purgeAlone.push(await purgeUntil(after(SECONDS), CONFIGS[at]!));
    }
  }

  for (const [at, r] of results.entries()) {
    const { size, paced } = CONFIGS[at]!;
    const rate = (runs: PurgeRun[]) => sum(runs.map((p) => p.messages + p.events)) / (runs.length * SECONDS);
    const messagesRate = (runs: PurgeRun[]) => sum(runs.map((p) => p.messages)) / (runs.length * SECONDS);
    const statements = r.purgeTogether.flatMap((p) => p.statementMs).sort((a, b) => a - b);
    const insertsAlone = sum(r.alone) / (r.alone.length * SECONDS);
    const insertsTogether = sum(r.together) / (r.together.length * SECONDS);
    console.log(
      `batch ${size}${paced ? ' paced' : ''}: purge alone ${Math.round(messagesRate(r.purgeAlone))} messages/s (${Math.round(rate(r.purgeAlone))} rows/s with events), ` +
        `beside inserts ${Math.round(messagesRate(r.purgeTogether))} messages/s (${Math.round(rate(r.purgeTogether))} rows/s); ` +
        `a statement ${(sum(statements) / statements.length).toFixed(0)} ms mean, ${statements[Math.floor(statements.length * 0.99)]!.toFixed(0)} ms p99; ` +
        `COPY inserts ${Math.round(insertsAlone)}/s alone, ${Math.round(insertsTogether)}/s beside the purge: ${(insertsTogether / insertsAlone).toFixed(2)}×`,
    );
  }

  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM messages');
  await pool.query('DROP INDEX messages_updated_at_idx');
  const t1 = performance.now();
  await pool.query('CREATE INDEX messages_updated_at_idx ON messages (updated_at)');
  const ms = performance.now() - t1;
  console.log(
    `CREATE INDEX messages_updated_at_idx on ${rows[0]!.n} rows: ${ms.toFixed(0)} ms (${((ms / rows[0]!.n) * 1_000_000).toFixed(0)} ms per million rows)`,
  );
} finally {
  await pool.end();
  await db.drop();
}
