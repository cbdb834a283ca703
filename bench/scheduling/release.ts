/**
 * `node bench/scheduling/release.ts [--count N]`: how fast one worker's release loop moves
 * scheduled messages to pending, against the rate the same rows were stored at in the same
 * run (the "storage rate" the contract promises a backlog drains at). Not part of `pnpm test`.
 *
 * 1. The ceiling: N (default 1,000,000) scheduled app messages to offline phones (no
 *    gateway runs), of the four priorities, due within the same minute (the minute before
 *    the run), written with the worker's COPY writer (storeBatch, 1000 rows a batch, 4 at a
 *    time as a worker's pool allows) into a throwaway database, no worker running.
 * 2. The release: one worker process started on that backlog; the rate is taken between
 *    the first and last `pending` event (PostgreSQL's clock), and the order is checked from
 *    the events: how far each round (one transaction, one event time) reaches before the
 *    latest message of the rounds before it (critical first, then the oldest sendAt): never
 *    more than the rounds running at once take between them.
 *    CPU seconds per 1,000 released from /proc (the worker; PostgreSQL and Redis by name,
 *    so other work on the machine counts too).
 * 3. At rest: BENCH_SCHEDULE_AT_REST (300) messages due over 3 s, stored while the worker
 *    runs; the release latency is the event time minus the sendAt, p50 and p99.
 * 4. Under load: the same while pending messages are stored beside them at
 *    BENCH_SCHEDULE_LOAD (10,000) rows/s.
 *
 * Writes bench/results/scheduling-<date>.md and .json.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { sampleBufferedMessage, type Priority } from '@esh3ar/contracts';
import { startStack, uuidv7, waitFor } from '@esh3ar/stack';
import { storeBatch, type RowToStore } from '../../packages/db/src/index.ts';
import { sql } from '../../packages/db/src/sql-files.ts';
import { scrape, total } from '../lib/metrics-scrape.ts';
import { cpuByName, cpuSeconds, cpuSinceByName, machineInfo } from '../lib/proc-stats.ts';
import { resultStamp, writeResult } from '../lib/results.ts';

const { values: args } = parseArgs({ options: { count: { type: 'string', default: '1000000' } } });
const COUNT = Number(args.count);
if (!Number.isInteger(COUNT) || COUNT < 1000) throw new Error(`--count must be a whole number of at least 1000, got ${args.count}`);
const AT_REST = Number(process.env.BENCH_SCHEDULE_AT_REST ?? 300);
/** Rows/s stored beside the release in step 4: a fifth of this machine's storage rate (~45,000/s). */
const LOAD = Number(process.env.BENCH_SCHEDULE_LOAD ?? 10_000);
const BATCH = 1000;
const PARALLEL = 4;
const PRIORITIES: readonly Priority[] = ['low', 'normal', 'high', 'critical'];

const stack = await startStack('bench-scheduling', { api: false });
const { pool } = stack;
const tenantId = uuidv7();

/** `n` scheduled app messages to distinct offline phones, due at `sendAt(i)`. */
function batch(from: number, n: number, sendAt: (i: number) => string): RowToStore[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    const message = sampleBufferedMessage({
      id: uuidv7(),
      tenantId,
      channel: 'app',
      priority: PRIORITIES[i % 4]!,
      recipient: `+9665${String(i % 100_000_000).padStart(8, '0')}`,
      content: 'Your appointment is tomorrow at 10:00',
    });
    return { message, state: { status: 'scheduled', failureReason: null, sendAt: sendAt(i) } };
  });
}

/** AT_REST messages due over 3 s from 2 s on, stored now; the release lag (event time − sendAt) once all are pending. */
async function releaseLatency(firstIndex: number) {
  const begin = Date.now();
  const restStart = begin + 2000;
  const rest = batch(firstIndex, AT_REST, (i) => new Date(restStart + Math.floor(((i - firstIndex) * 3000) / AT_REST)).toISOString());
  await storeBatch(pool, rest);
  const ids = rest.map((r) => r.message.id);
  await waitFor(
    async () =>
      (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[]) AND status = 'pending'`, [ids]))
        .rows[0]!.n,
    (n) => n === AT_REST,
    60_000,
    100,
  );
  const { rows: lags } = await pool.query<{ ms: number }>(
    `SELECT (EXTRACT(EPOCH FROM e.at - m.send_at) * 1000)::float8 AS ms
     FROM message_events e JOIN messages m ON m.id = e.message_id WHERE e.status = 'pending' AND m.id = ANY($1::uuid[]) ORDER BY 1`,
    [ids],
  );
  const ms = lags.map((l) => l.ms);
  return {
    messages: AT_REST,
    p50Ms: Math.round(quantile(ms, 0.5)),
    p99Ms: Math.round(quantile(ms, 0.99)),
    earliestMs: Math.round(ms[0]!),
    seconds: (Date.now() - begin) / 1000,
  };
}

/** Stores pending messages at LOAD rows/s (a batch of BATCH at a time) until stopped; `done` gives how many. */
function startLoad(firstIndex: number) {
  let stopped = false;
  const started = performance.now();
  const done = (async () => {
    let stored = 0;
    while (!stopped) {
      const rows = batch(firstIndex + stored, BATCH, () => '').map((r) => ({
        message: r.message,
        state: { status: 'pending' as const, failureReason: null },
      }));
      await storeBatch(pool, rows);
      stored += BATCH;
      const aheadMs = (stored / LOAD) * 1000 - (performance.now() - started);
      if (aheadMs > 0) await sleep(aheadMs);
    }
    return stored;
  })();
  return { done, stop: () => void (stopped = true) };
}

const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

try {
  // 1. The ceiling: the backlog, due within the minute before the run, stored as a worker stores.
  const minute = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
  const dueAt = (i: number) => new Date(minute + Math.floor((i * 60_000) / COUNT)).toISOString();
  const storeStarted = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < COUNT) {
        const from = next;
        next += BATCH;
        await storeBatch(pool, batch(from, Math.min(BATCH, COUNT - from), dueAt));
      }
    }),
  );
  const storeSeconds = (performance.now() - storeStarted) / 1000;
  const storageRate = COUNT / storeSeconds;
  await pool.query('VACUUM ANALYZE messages');
  const plan = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (COSTS OFF) ${sql('schedule-due')}`, [BATCH, null]);
  const scans = plan.rows.map((r) => r['QUERY PLAN'].trim()).filter((line) => /Scan/.test(line));
  console.log(
    `stored ${COUNT} scheduled messages in ${storeSeconds.toFixed(1)} s: ${Math.round(storageRate)} rows/s; due query: ${scans.join('; ')}`,
  );

  // 2. The release of the backlog by one worker.
  const postgresBefore = cpuByName('postgres');
  const redisBefore = cpuByName('redis-server');
  const worker = await stack.startWorker();
  const workerBefore = cpuSeconds(worker.pid);
  await waitFor(
    async () => (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE status = 'scheduled'`)).rows[0]!.n,
    (n) => n === 0,
    3_600_000,
    250,
  );
  const workerCpu = cpuSeconds(worker.pid) - workerBefore;
  const postgresCpu = cpuSinceByName('postgres', postgresBefore);
  const redisCpu = cpuSinceByName('redis-server', redisBefore);
  const { rows: span } = await pool.query<{ released: number; seconds: number; rounds: number }>(
    `SELECT count(*)::int AS released, EXTRACT(EPOCH FROM max(at) - min(at))::float8 AS seconds, count(DISTINCT at)::int AS rounds
     FROM message_events WHERE status = 'pending'`,
  );
  const released = span[0]!;
  const releaseRate = released.released / released.seconds;

  // Order: rounds by event time (each round's transaction start). A round overlaps the rounds
  // before it by how far its first message (critical first, then sendAt, then id) comes
  // before the latest of theirs: 0 when released in order; up to two rounds' size while two
  // run at once (the loop's lanes): they take the next due rows between them, interleaved.
  const { rows: order } = await pool.query<{ rounds: number; overlapping: number; maxOverlap: number }>(
    `WITH r AS (
       SELECT e.at, m.priority, m.send_at, m.id FROM message_events e JOIN messages m ON m.id = e.message_id WHERE e.status = 'pending'
     ), k AS (
       SELECT at, row_number() OVER (ORDER BY priority DESC, send_at, id) AS pos FROM r
     ), per_round AS (
       SELECT at, min(pos) AS first, max(pos) AS last FROM k GROUP BY at
     ), seen AS (
       SELECT first, max(last) OVER (ORDER BY at ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before FROM per_round
     )
     SELECT count(*)::int AS rounds, count(*) FILTER (WHERE first < before)::int AS overlapping,
       coalesce(max(before - first + 1) FILTER (WHERE first < before), 0)::int AS "maxOverlap"
     FROM seen`,
  );
  const { overlapping, maxOverlap } = order[0]!;
  const metrics = await scrape(worker.url);
  const roundSeconds =
    total(metrics, 'esh3ar_schedule_round_duration_seconds_sum') / total(metrics, 'esh3ar_schedule_round_duration_seconds_count');
  // Where a round's time goes: its statements' mean times (the rest is Redis and the worker itself).
  const statementMs = Object.fromEntries(
    ['schedule-due', 'schedule-release', 'commit'].map((name) => {
      const label = `statement="${name}"`;
      const seconds = total(metrics, 'esh3ar_db_statement_duration_seconds_sum', label);
      const count = total(metrics, 'esh3ar_db_statement_duration_seconds_count', label);
      return [name, Math.round((seconds / count) * 10000) / 10];
    }),
  );
  console.log(
    `released ${released.released} in ${released.seconds.toFixed(1)} s: ${Math.round(releaseRate)} rows/s, ` +
      `${(releaseRate / storageRate).toFixed(2)}× the storage rate; ${released.rounds} rounds (${(roundSeconds * 1000).toFixed(1)} ms mean), ` +
      `${overlapping} overlapping the rounds before them, by at most ${maxOverlap} messages; statements (ms, mean): ${JSON.stringify(statementMs)}`,
  );

  // 3. At rest: a few hundred due over 3 s, stored while the worker runs.
  const atRest = await releaseLatency(COUNT);
  console.log(`at rest: ${AT_REST} messages due over 3 s released ${atRest.p50Ms} ms (p50), ${atRest.p99Ms} ms (p99) after their sendAt`);
  // 4. Under load: the same while other messages are stored beside them at LOAD rows/s
  //    (pending ones, written as a worker writes them: PostgreSQL is what they share).
  const load = startLoad(COUNT + AT_REST);
  const underLoad = await releaseLatency(COUNT + AT_REST + 10_000_000).finally(() => load.stop());
  const loadRate = Math.round((await load.done) / underLoad.seconds);
  console.log(
    `under load (${loadRate} rows/s stored beside): released ${underLoad.p50Ms} ms (p50), ${underLoad.p99Ms} ms (p99) after their sendAt`,
  );

  const per1000 = (cpu: number | null) => (cpu === null ? null : Math.round((cpu / released.released) * 1000 * 1000) / 1000);
  const result = {
    machine: machineInfo(),
    count: COUNT,
    storage: { seconds: Math.round(storeSeconds * 10) / 10, rowsPerSecond: Math.round(storageRate), batch: BATCH, parallel: PARALLEL },
    dueQueryScans: scans,
    release: {
      released: released.released,
      seconds: Math.round(released.seconds * 10) / 10,
      rowsPerSecond: Math.round(releaseRate),
      ratioToStorage: Math.round((releaseRate / storageRate) * 100) / 100,
      rounds: released.rounds,
      roundMeanMs: Math.round(roundSeconds * 10000) / 10,
      statementMeanMs: statementMs,
      overlappingRounds: overlapping,
      maxOverlapMessages: maxOverlap,
      cpuSecondsPer1000: { worker: per1000(workerCpu), postgres: per1000(postgresCpu), redis: per1000(redisCpu) },
    },
    atRest,
    underLoad: { ...underLoad, loadRowsPerSecond: loadRate },
  };
  const lines = [
    `# Scheduled messages: release rate (${new Date().toISOString()})`,
    '',
    `${COUNT.toLocaleString('en')} scheduled app messages (offline phones, four priorities) due within one minute; one worker; ${result.machine.cores} cores, ${result.machine.cpuModel}.`,
    '',
    '| figure | value |',
    '| --- | --- |',
    `| storage rate (storeBatch, ${BATCH} a batch, ${PARALLEL} at a time): the ceiling | ${result.storage.rowsPerSecond.toLocaleString('en')} rows/s |`,
    `| release rate (first to last \`pending\` event) | ${result.release.rowsPerSecond.toLocaleString('en')} rows/s, **${result.release.ratioToStorage}×** the storage rate |`,
    `| rounds, mean duration | ${result.release.rounds}, ${result.release.roundMeanMs} ms |`,
    `| a round's statements, mean | ${Object.entries(statementMs)
      .map(([name, ms]) => `${name} ${ms} ms`)
      .join(', ')} |`,
    `| order (critical first, then oldest sendAt): rounds overlapping those before, by at most | ${overlapping} of ${released.rounds}, ${maxOverlap} messages (${BATCH} a round; 2 rounds at once during a backlog share the next ${2 * BATCH} due rows) |`,
    `| CPU s per 1,000 released: worker, PostgreSQL, Redis | ${result.release.cpuSecondsPer1000.worker}, ${result.release.cpuSecondsPer1000.postgres ?? 'n/a'}, ${result.release.cpuSecondsPer1000.redis ?? 'n/a'} |`,
    `| at rest: ${AT_REST} due over 3 s, event time − sendAt | p50 ${atRest.p50Ms} ms, p99 ${atRest.p99Ms} ms (earliest ${atRest.earliestMs} ms) |`,
    `| under load (${loadRate.toLocaleString('en')} rows/s stored beside): ${AT_REST} due over 3 s, event time − sendAt | p50 ${underLoad.p50Ms} ms, p99 ${underLoad.p99Ms} ms (earliest ${underLoad.earliestMs} ms) |`,
    `| due query plan | ${scans.join('; ')} |`,
  ];
  const stamp = resultStamp(new Date());
  console.log(`wrote ${writeResult(`scheduling-${stamp}.md`, `${lines.join('\n')}\n`)}`);
  writeResult(`scheduling-${stamp}.json`, JSON.stringify(result, null, 2));
} finally {
  await stack.close();
}
