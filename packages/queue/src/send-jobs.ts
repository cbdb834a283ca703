import { randomUUID } from 'node:crypto';
import {
  JOB_PRIORITY,
  PROVIDER_CHANNELS,
  SEND_JOB_NAME,
  sendQueueName,
  type BufferedMessage,
  type ProviderChannel,
  type SendJobData,
} from '@esh3ar/contracts';
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
function sendJob(
  m: BufferedMessage,
  channel: ProviderChannel,
  reason: SendJobData['reason'],
  jobId: string,
  extra: JobsOptions = {},
): SendJob {
  return {
    name: SEND_JOB_NAME,
    data: {
      channel,
      reason,
      message: {
        id: m.id,
        tenantId: m.tenantId,
        recipient: m.recipient,
        subject: m.subject,
        content: m.content,
        priority: m.priority,
        acceptedAt: m.acceptedAt,
      },
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

/** The provider channel that sends a message: its own, or an app message's fallback (null: none). */
function providerChannelOf(m: BufferedMessage): ProviderChannel | null {
  if (m.channel !== 'app') return m.channel;
  return (PROVIDER_CHANNELS as readonly string[]).includes(m.fallback ?? '') ? (m.fallback as ProviderChannel) : null;
}

function add(byChannel: Map<ProviderChannel, SendJob[]>, channel: ProviderChannel, job: SendJob): void {
  const list = byChannel.get(channel);
  if (list) list.push(job);
  else byChannel.set(channel, [job]);
}

/**
 * The send jobs of freshly stored messages, per channel queue: a provider message is sent
 * at once; an app message with a fallback gets a job delayed until its fallbackAfterSeconds
 * (default 60) from acceptance run out, which sends it only if no device acknowledged it by then.
 */
export function storedSendJobs(messages: readonly BufferedMessage[], now: number): Map<ProviderChannel, SendJob[]> {
  const byChannel = new Map<ProviderChannel, SendJob[]>();
  for (const m of messages) {
    const channel = providerChannelOf(m);
    if (channel === null) continue;
    if (m.channel !== 'app') {
      add(byChannel, channel, sendJob(m, channel, 'send', `send-${m.id}`));
    } else {
      const due = Date.parse(m.acceptedAt) + (m.fallbackAfterSeconds ?? 60) * 1000;
      add(byChannel, channel, sendJob(m, channel, 'fallback', `fallback-${m.id}`, { delay: Math.max(0, due - now) }));
    }
  }
  return byChannel;
}

/**
 * DLQ replay: each message is sent again exactly like a new attempt, through its own
 * channel or, for an app message, its fallback's (an app message without one waits for its
 * device; it has no job). Given to replayDeadLetters (@esh3ar/db), which calls it inside the
 * transaction that moves the messages back to pending and commits only if it resolves. One
 * addBulk (a MULTI) per channel queue. Job ids are new for each replay, not derived from the
 * message alone: a failed replay's jobs may still be waiting when the operator tries again,
 * and an id shared with them would make the new add a no-op while the old job is being
 * skipped. Such an old job that runs after the new replay committed sends nothing twice:
 * the provider de-duplicates on our message id, and the first outcome recorded wins.
 */
export async function enqueueReplays(
  queues: ReadonlyMap<ProviderChannel, Queue<SendJobData>>,
  messages: readonly BufferedMessage[],
): Promise<number> {
  const replayId = randomUUID();
  const byChannel = new Map<ProviderChannel, SendJob[]>();
  for (const m of messages) {
    const channel = providerChannelOf(m);
    if (channel !== null) add(byChannel, channel, sendJob(m, channel, 'replay', `replay-${m.id}-${replayId}`));
  }
  // Every queue's answer is awaited before a failure is thrown: the transaction then rolls
  // back with no add of this replay still in flight.
  const added = await Promise.allSettled([...byChannel].map(([channel, jobs]) => queues.get(channel)!.addBulk(jobs)));
  const failed = added.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return [...byChannel.values()].reduce((n, jobs) => n + jobs.length, 0);
}
