import { checkBufferedMessage, type IngestJobData } from '@esh3ar/contracts';
import { storeBatch, type RowToStore } from '@esh3ar/db';
import { removeBuffered } from '@esh3ar/queue';
import type { InProcessApp } from './in-process-app.test-kit.ts';

/**
 * A stand-in for the worker's storing path (apps/worker/src/persist), for in-process api
 * tests that wait for storage: when called, every waiting ingest job's messages are stored
 * by storeBatch as pending, taken out of the buffer index, and the jobs removed. Calls run
 * one at a time; each resolves with the number of messages it stored. A message the worker
 * would refuse (checkBufferedMessage) fails the call instead of being stored, so that a test
 * through the stand-in cannot pass where the worker would store something else.
 */
export function bufferStorer(api: Pick<InProcessApp, 'pool' | 'redis' | 'queue' | 'keys'>): () => Promise<number> {
  let storing: Promise<unknown> = Promise.resolve();
  return () => {
    const run = storing.then(async () => {
      const jobs = await api.queue.getJobs(['waiting', 'prioritized']);
      const rows: RowToStore[] = jobs.flatMap((job) =>
        (job.data as IngestJobData).messages.map((message) => {
          if (!checkBufferedMessage.Check(message)) throw new Error(`the worker would refuse buffered message ${JSON.stringify(message)}`);
          return { message, state: { status: 'pending' as const, failureReason: null } };
        }),
      );
      if (rows.length === 0) return 0;
      await storeBatch(api.pool, rows);
      await removeBuffered(
        api.redis,
        api.keys,
        rows.map((r) => r.message.id),
      );
      await Promise.all(jobs.map((job) => job.remove()));
      return rows.length;
    });
    storing = run.catch(() => undefined);
    return run;
  };
}
