import { JOB_PRIORITY, PROVIDER_CHANNELS, SEND_JOB_NAME, sendQueueName, type BufferedMessage, type ProviderChannel, type SendJobData } from '@esh3ar/contracts';
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { INGEST_ATTEMPTS } from './ingest-jobs.ts';

export interface SendJob {
  name: typeof SEND_JOB_NAME;
  data: SendJobData;
  opts: JobsOptions;
}

/**
 * A provider send job. Its id names the message (and why it is sent), so adding it
 * again — an ingest batch re-run after a crash — adds nothing while the first exists.
 */
export function sendJob(m: BufferedMessage, channel: ProviderChannel, reason: SendJobData['reason'], jobId: string, extra: JobsOptions = {}): SendJob {
  return {
    name: SEND_JOB_NAME,
    data: {
      channel,
      reason,
      message: { id: m.id, tenantId: m.tenantId, recipient: m.recipient, subject: m.subject, content: m.content, priority: m.priority, acceptedAt: m.acceptedAt },
    },
    opts: {
      jobId,
      priority: JOB_PRIORITY[m.priority],
      // The retry budget is counted in PostgreSQL (worker.maxAttempts, renewed by a DLQ replay).
      attempts: INGEST_ATTEMPTS,
      backoff: { type: 'provider' },
      removeOnComplete: true,
      removeOnFail: 1000,
      ...extra,
    },
  };
}

/** One producer per provider channel queue. */
export function sendQueues(connection: Redis, prefix: string): Map<ProviderChannel, Queue<SendJobData>> {
  return new Map(PROVIDER_CHANNELS.map((c) => [c, new Queue<SendJobData>(sendQueueName(c), { connection, prefix })]));
}

/**
 * DLQ replay: each message is sent again exactly like a new attempt, under a fresh job
 * id (its earlier job's record stays apart); app messages have no provider and are skipped.
 */
export async function enqueueReplays(queues: ReadonlyMap<ProviderChannel, Queue<SendJobData>>, messages: readonly BufferedMessage[]): Promise<number> {
  const stamp = Date.now();
  const jobs = messages.filter((m): m is BufferedMessage & { channel: ProviderChannel } => m.channel !== 'app');
  await Promise.all(jobs.map((m) => {
    const job = sendJob(m, m.channel, 'replay', `replay-${m.id}-${stamp}`);
    return queues.get(m.channel)!.add(job.name, job.data, job.opts);
  }));
  return jobs.length;
}
