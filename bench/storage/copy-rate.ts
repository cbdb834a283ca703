import { randomUUID } from 'node:crypto';
import { sampleBufferedMessage } from '@esh3ar/contracts';
import { COPY_COLUMNS, createPool, messageRowValues, storeBatch, type RowToStore } from '../../packages/db/src/index.ts';
import { createDatabase, uuidv7, type Stack } from '@esh3ar/stack';
import { bufferDepth } from '../lib/buffer-depth.ts';

export interface PreloadResult {
  requests: number;
  accepted: number;
  rejected: number;
  seconds: number;
}

export interface WorkerDrainResult {
  rows: number;
  /** From spawning the worker process until the buffer was empty (start-up and migration check included). */
  secondsFromSpawn: number;
  rowsPerSecondFromSpawn: number;
  /** From the first batch stored until the buffer was empty: the steady rate. */
  rowsPerSecond: number;
}

export interface DirectStoreResult {
  rows: number;
  batchSize: number;
  parallel: number;
  rowsPerSecond: number;
}

const BATCH = 1000;
const PRELOAD_PARALLEL = 4;
// The worker's default WORKER_PG_POOL_MAX and worker.batchSize: the same shape of writes.
const DIRECT_PARALLEL = 4;
const DEPTH_POLL_MS = 20;
const DRAIN_TIMEOUT_MS = 600_000;

/** Fills the buffer through POST /v1/messages/batch, 1000 messages a request, 4 requests at a time. */
export async function preload(
  apiUrl: string,
  apiKey: string,
  total: number,
  message: object,
  onAccepted: (id: string) => void,
): Promise<PreloadResult> {
  const started = performance.now();
  const body = JSON.stringify({ messages: Array.from({ length: BATCH }, () => message) });
  const result: PreloadResult = { requests: 0, accepted: 0, rejected: 0, seconds: 0 };
  let remaining = Math.ceil(total / BATCH);
  async function lane(): Promise<void> {
    while (remaining > 0) {
      remaining--;
      const response = await fetch(`${apiUrl}/v1/messages/batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body,
      });
      const answer = (await response.json()) as { accepted?: number; rejected?: number; results?: { id?: string }[] };
      result.requests++;
      if (response.status !== 202)
        throw new Error(`preload: POST /v1/messages/batch answered ${response.status}: ${JSON.stringify(answer)}`);
      result.accepted += answer.accepted ?? 0;
      result.rejected += answer.rejected ?? 0;
      for (const r of answer.results ?? []) if (r.id) onAccepted(r.id);
    }
  }
  await Promise.all(Array.from({ length: PRELOAD_PARALLEL }, lane));
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/** Starts one worker on a full buffer and times it until the buffer is empty. */
export async function timeWorkerDrain(stack: Stack, apiUrl: string): Promise<WorkerDrainResult> {
  const rows = await bufferDepth(apiUrl);
  const spawned = performance.now();
  const worker = stack.startWorker();
  let failure: Error | undefined;
  worker.catch((error: Error) => {
    failure = error;
  });
  let firstStored: { at: number; depth: number } | undefined;
  let depth = rows;
  while (depth > 0) {
    if (failure !== undefined) throw failure;
    if (performance.now() - spawned > DRAIN_TIMEOUT_MS)
      throw new Error(`the worker left ${depth} of ${rows} messages in the buffer after ${DRAIN_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, DEPTH_POLL_MS));
    depth = await bufferDepth(apiUrl);
    if (depth < rows && !firstStored) firstStored = { at: performance.now(), depth };
  }
  const done = performance.now();
  await worker;
  const secondsFromSpawn = (done - spawned) / 1000;
  const steadySeconds = firstStored ? (done - firstStored.at) / 1000 : secondsFromSpawn;
  return {
    rows,
    secondsFromSpawn: Math.round(secondsFromSpawn * 100) / 100,
    rowsPerSecondFromSpawn: Math.round(rows / secondsFromSpawn),
    rowsPerSecond: Math.round((firstStored && steadySeconds > 0 ? firstStored.depth : rows) / steadySeconds),
  };
}

export interface DirectStoreOptions {
  /** Rows per storeBatch call (the worker's worker.batchSize): 1000. */
  batchSize?: number;
  /** storeBatch calls at once (the worker's WORKER_PG_POOL_MAX): 4. */
  parallel?: number;
  /** PostgreSQL's synchronous_commit for the database: on, as Esh3ar runs. */
  synchronousCommit?: boolean;
  /**
   * 'copy': storeBatch, COPY into a TEMP staging table (never WAL-logged) and merge, as
   * the worker does. 'insert': one multi-row INSERT … ON CONFLICT DO NOTHING per batch,
   * what the staging table replaces.
   */
  write?: 'copy' | 'insert';
}

// PostgreSQL's limit on the parameters of one statement.
const MAX_PARAMETERS = 65_535;

/**
 * A batch as one multi-row INSERT with the merge's conflict rule and row order
 * (merge-staging.sql: priority, then id): no staging table.
 */
async function insertBatch(pool: ReturnType<typeof createPool>, rows: readonly RowToStore[]): Promise<void> {
  const width = COPY_COLUMNS.length;
  if (rows.length * width > MAX_PARAMETERS)
    throw new Error(`a multi-row INSERT takes at most ${Math.floor(MAX_PARAMETERS / width)} rows, not ${rows.length}`);
  const ordered = rows.map((row) => messageRowValues(row.message, row.state));
  const PRIORITY = COPY_COLUMNS.indexOf('priority');
  ordered.sort((a, b) => Number(b[PRIORITY]) - Number(a[PRIORITY]) || String(a[0]).localeCompare(String(b[0])));
  const tuples = ordered.map((_, r) => `(${COPY_COLUMNS.map((_, c) => `$${r * width + c + 1}`).join(', ')})`);
  await pool.query(
    `INSERT INTO messages (${COPY_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT (id) DO NOTHING`,
    ordered.flat(),
  );
}

/**
 * pg-pool resolves end() before its sockets have closed, and a database drop then closes
 * them from the server's side (57P01): the one error expected of an idle connection here.
 * Any other is kept, for the caller to throw once its database is dropped.
 */
function idleFailures(pool: ReturnType<typeof createPool>): () => Error | undefined {
  let failure: Error | undefined;
  pool.on('error', (error: Error & { code?: string }) => {
    if (error.code !== '57P01') failure ??= error;
  });
  return () => failure;
}

/**
 * The storage baseline: the worker's own storeBatch called straight from here, with
 * no Redis and no BullMQ, into a throwaway database of its own.
 */
export async function directStore(baseDatabaseUrl: string, rows: number, options: DirectStoreOptions = {}): Promise<DirectStoreResult> {
  const { batchSize = BATCH, parallel = DIRECT_PARALLEL, synchronousCommit = true, write = 'copy' } = options;
  const store = write === 'copy' ? storeBatch : insertBatch;
  const db = await createDatabase(baseDatabaseUrl, 'bench-direct-copy');
  const pool = createPool(db.url, { max: parallel, applicationName: 'esh3ar-bench-direct' });
  const failures = [idleFailures(pool)];
  let result: DirectStoreResult;
  try {
    // Before the pool's first connection: each new session takes the database's setting.
    if (!synchronousCommit) {
      const admin = createPool(db.url, { max: 1, applicationName: 'esh3ar-bench-direct-setup' });
      failures.push(idleFailures(admin));
      await admin.query(`ALTER DATABASE "${db.name}" SET synchronous_commit = off`).finally(() => admin.end());
    }
    const tenantId = randomUUID();
    const batches: RowToStore[][] = [];
    for (let left = rows; left > 0; left -= batchSize) {
      batches.push(
        Array.from({ length: Math.min(batchSize, left) }, (): RowToStore => {
          const message = sampleBufferedMessage({ id: uuidv7(), tenantId, content: 'Your verification code is 482913' });
          return { message, state: { status: 'pending', failureReason: null } };
        }),
      );
    }
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < batches.length) await store(pool, batches[next++]!);
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    result = { rows, batchSize, parallel, rowsPerSecond: Math.round(rows / seconds) };
  } finally {
    await pool.end();
    await db.drop();
  }
  const failure = failures.map((failed) => failed()).find((error) => error !== undefined);
  if (failure) throw failure;
  return result;
}
