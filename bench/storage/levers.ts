/**
 * Storage levers, measured on the worker's own write path (storeBatch: COPY straight
 * into messages; a batch with an id already stored through a TEMP staging table and
 * INSERT … ON CONFLICT DO NOTHING)
 * with no Redis and no BullMQ, each case in a throwaway database of its own. The cases
 * run in turn, ROUNDS times, so that the machine's drift spreads over all of them; each
 * figure is the median of its rounds and its ratio to the default (1000 rows per batch,
 * 4 at once, synchronous_commit on, by COPY). Not part of `pnpm bench`:
 *
 *   node bench/storage/levers.ts       LEVERS_ROWS (100000), LEVERS_ROUNDS (3)
 *
 * Writes bench/results/levers-<date>.md.
 */
import { execFileSync } from 'node:child_process';
import { REPO_ROOT } from '@esh3ar/stack';
import { median } from '../lib/proc-stats.ts';
import { resultStamp, writeResult } from '../lib/results.ts';
import { directStore, type DirectStoreOptions } from './copy-rate.ts';

const rows = Number(process.env.LEVERS_ROWS ?? 100_000);
const rounds = Number(process.env.LEVERS_ROUNDS ?? 3);
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar';

const cases: { label: string; options: DirectStoreOptions }[] = [
  { label: '1000 rows per batch, 4 at once, synchronous_commit on (as Esh3ar runs)', options: {} },
  { label: '100 rows per batch', options: { batchSize: 100 } },
  { label: '500 rows per batch', options: { batchSize: 500 } },
  { label: '5000 rows per batch', options: { batchSize: 5000 } },
  { label: '1000 rows per batch, 1 at once', options: { parallel: 1 } },
  { label: '1000 rows per batch, synchronous_commit off (loses committed rows in a crash)', options: { synchronousCommit: false } },
  { label: '1000 rows per batch as one multi-row INSERT … ON CONFLICT, no staging table', options: { write: 'insert' } },
];

execFileSync('bash', ['scripts/services.sh'], { cwd: REPO_ROOT, stdio: 'inherit' });
const measured = cases.map(() => [] as number[]);
await directStore(databaseUrl, Math.min(rows, 20_000)); // warm-up
for (let round = 1; round <= rounds; round++) {
  for (const [i, { label, options }] of cases.entries()) {
    const { rowsPerSecond } = await directStore(databaseUrl, rows, options);
    measured[i]!.push(rowsPerSecond);
    process.stderr.write(`levers: round ${round}, ${label}: ${rowsPerSecond} rows/s\n`);
  }
}
const base = Math.round(median(measured[0]!));
const lines = [
  `| storeBatch, ${rows.toLocaleString('en')} rows | rows/s (median of ${rounds}) | vs default | rounds |`,
  '| --- | ---: | ---: | --- |',
];
for (const [i, { label }] of cases.entries()) {
  const m = Math.round(median(measured[i]!));
  lines.push(
    `| ${label} | ${m.toLocaleString('en')} | ${(m / base).toFixed(2)}× | ${measured[i]!.map((x) => x.toLocaleString('en')).join(', ')} |`,
  );
}
console.log(lines.join('\n'));
writeResult(`levers-${resultStamp(new Date())}.md`, `# Storage levers (node bench/storage/levers.ts)\n\n${lines.join('\n')}\n`);
