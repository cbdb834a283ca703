import { JOB_PRIORITY, SEND_JOB_NAME, type BufferedMessage, type ProviderChannel, type SendJobData } from '@esh3ar/contracts';
import type { JobsOptions } from 'bullmq';
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
