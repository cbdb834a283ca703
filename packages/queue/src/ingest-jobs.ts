import { JOBS, JOB_PRIORITY, type BufferedMessage, type IngestJobData, type Priority } from '@esh3ar/contracts';
import { Queue, type JobsOptions } from 'bullmq';
import type { RedisKeys } from './keys.ts';
import { isCluster, type RedisClient } from './redis.ts';

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

/** The ingest queues' producers (the api adds, the worker counts their backlog): one on one Redis, `keys.ingestQueues`. */
export function ingestQueues(connection: RedisClient, keys: RedisKeys): Queue[] {
  return keys.ingestQueues.map((name) => new Queue(name, producerOptions(connection, keys, name)));
}

/**
 * BullMQ reads the Redis version once, as a queue is made. On a Cluster it sends that INFO
 * once the slots are known but before the client is ready, and a client without an offline
 * queue (the api's, failFast) refuses it: that queue would then refuse every job for good.
 * A producer on a Cluster skips the check; the workers' BullMQ workers still make it.
 */
export function producerOptions(connection: RedisClient, keys: RedisKeys, queue: string) {
  return { connection, prefix: keys.queuePrefix(queue), skipVersionCheck: isCluster(connection) };
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
