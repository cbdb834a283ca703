import { JOBS, JOB_PRIORITY, type BufferedMessage, type IngestJobData, type Priority } from '@esh3ar/contracts';
import type { JobsOptions } from 'bullmq';

/**
 * A storage job may wait out a PostgreSQL outage of any length: it is retried with a
 * capped backoff and never runs out of attempts. Only data PostgreSQL refuses ends
 * as `failed`, row by row, and that never throws.
 */
export const INGEST_ATTEMPTS = 1_000_000;
export const INGEST_BACKOFF = { type: 'capped-exponential' } as const;

export function ingestJobOptions(priority: Priority, jobId: string): JobsOptions {
  return {
    jobId,
    priority: JOB_PRIORITY[priority],
    attempts: INGEST_ATTEMPTS,
    backoff: INGEST_BACKOFF,
    removeOnComplete: true,
    removeOnFail: false,
  };
}

export interface IngestJob {
  name: typeof JOBS.ingest.name;
  data: IngestJobData;
  opts: JobsOptions;
}

/** One job per priority present, so that BullMQ hands critical batches out first. */
export function ingestJobs(messages: readonly BufferedMessage[], maxPerJob: number): IngestJob[] {
  const byPriority = new Map<Priority, BufferedMessage[]>();
  for (const m of messages) {
    const group = byPriority.get(m.priority);
    if (group) group.push(m);
    else byPriority.set(m.priority, [m]);
  }
  const jobs: IngestJob[] = [];
  for (const [priority, group] of byPriority) {
    for (let i = 0; i < group.length; i += maxPerJob) {
      const slice = group.slice(i, i + maxPerJob);
      // The first message's id names the job: unique, and stable if the write is retried.
      jobs.push({ name: JOBS.ingest.name, data: { messages: slice }, opts: ingestJobOptions(priority, slice[0]!.id) });
    }
  }
  return jobs;
}
