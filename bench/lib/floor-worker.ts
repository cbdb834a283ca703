/**
 * The storage half of the floor (floor-server.ts has the api's): a bare BullMQ worker that
 * COPYs the messages of the jobs it holds into one table, the jobs that arrive during one
 * COPY together in the next, and completes them. No buffer index, no delivery, no events,
 * no exactly-once beyond the table's primary key, no metrics, no logs.
 *
 *   FLOOR_REDIS_URL=… FLOOR_PREFIX=… FLOOR_DATABASE_URL=… node bench/lib/floor-worker.ts
 *
 * Prints `{"msg":"floor worker ready"}` once it has made its table and listens for jobs.
 */
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { groupCommit } from './group-commit.ts';

interface Stored {
  id: string;
  recipient: string;
  content: string;
  acceptedAt: string;
}

// As many jobs at once as Esh3ar's worker takes by default (WORKER_CONCURRENCY).
const CONCURRENCY = 32;
const pool = new pg.Pool({ connectionString: process.env.FLOOR_DATABASE_URL, max: 1 });
await pool.query(
  'CREATE TABLE IF NOT EXISTS floor_messages (id uuid PRIMARY KEY, recipient text NOT NULL, content text NOT NULL, accepted_at timestamptz NOT NULL)',
);

// COPY's text format: backslash, tab, newline and carriage return escaped.
const field = (s: string) => s.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!);

async function copy(rows: string): Promise<void> {
  const client = await pool.connect();
  try {
    await pipeline(Readable.from([rows]), client.query(copyFrom('COPY floor_messages (id, recipient, content, accepted_at) FROM STDIN')));
  } finally {
    client.release();
  }
}

// The jobs that arrive while a COPY is in flight go in the next one, so PostgreSQL commits
// once per batch rather than once per job, as Esh3ar's worker batches.
const store = groupCommit<string>((rows) => copy(rows.join('')));

const redis = new Redis(process.env.FLOOR_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const worker = new Worker<{ messages: Stored[] }>(
  'floor',
  (job) => store(job.data.messages.map((m) => `${m.id}\t${field(m.recipient)}\t${field(m.content)}\t${m.acceptedAt}\n`).join('')),
  { connection: redis, prefix: process.env.FLOOR_PREFIX ?? 'floor', concurrency: CONCURRENCY },
);
await worker.waitUntilReady();
process.stdout.write(`${JSON.stringify({ msg: 'floor worker ready' })}\n`);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    worker
      .close()
      .then(() => pool.end())
      .then(() => redis.quit())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  });
}
