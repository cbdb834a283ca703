import type { BufferedMessage, ProviderChannel, SendJobData } from '@esh3ar/contracts';
import type { ProviderMetrics } from '@esh3ar/observability';
import { addSendJobs, storedSendJobs, type ReplicaWait } from '@esh3ar/queue';
import type { Queue } from 'bullmq';

/**
 * After storage: provider messages to their channel's queue at once; app messages with a
 * fallback, delayed until their fallback is due; in batch jobs of up to 500 per channel and
 * priority (storedSendJobs). One addBulk per channel. `release`: the release of scheduled
 * messages they come from (storedSendJobs). `replicas` (addSendJobs): a shortfall rejects,
 * and the caller's retry adds them again (their job ids keep one).
 */
export async function enqueueStored(
  queues: ReadonlyMap<ProviderChannel, Queue<SendJobData>>,
  metrics: ProviderMetrics,
  messages: readonly BufferedMessage[],
  options: { release?: string | undefined; replicas?: ReplicaWait | undefined } = {},
): Promise<void> {
  const byChannel = storedSendJobs(messages, Date.now(), options.release);
  for (const [channel, jobs] of byChannel) {
    const fallbacks = jobs.reduce((n, j) => n + (j.data.reason === 'fallback' ? j.data.messages.length : 0), 0);
    if (fallbacks > 0) metrics.fallbacks.inc({ channel }, fallbacks);
  }
  await Promise.all([...byChannel].map(([channel, jobs]) => addSendJobs(queues.get(channel)!, jobs, options.replicas)));
}
