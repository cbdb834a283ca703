import { createHash, randomUUID } from 'node:crypto';
import {
  dueAt,
  JOB_PRIORITY,
  PROVIDER_CHANNELS,
  SEND_BATCH_MAX,
  SEND_JOB_NAME,
  sendQueueName,
  type BufferedMessage,
  type ProviderChannel,
  type SendJobData,
  type SendMessage,
} from '@esh3ar/contracts';
import { Queue, type JobsOptions } from 'bullmq';
import { INGEST_ATTEMPTS, INGEST_BACKOFF, producerOptions } from './ingest-jobs.ts';
import type { RedisKeys } from './keys.ts';
import type { RedisClient } from './redis.ts';
import type { ReplicaWait } from './replicas.ts';

export interface SendJob {
  name: typeof SEND_JOB_NAME;
  data: SendJobData;
  opts: JobsOptions;
}

/**
 * A digest of what a job holds, for its id: the same messages give the same id, so adding
 * the job again (an ingest batch re-run after a crash, a batch job run twice) adds nothing
 * while the first exists, and different messages never share an id (which would make the
 * second add a no-op and leave its messages without a job). 132 bits: no collision in
 * any number of jobs Redis can hold.
 */
function digest(parts: readonly string[]): string {
  return createHash('sha256').update(parts.join('|')).digest('base64url').slice(0, 22);
}

const sendMessage = (m: BufferedMessage): SendMessage => ({
  id: m.id,
  tenantId: m.tenantId,
  recipient: m.recipient,
  subject: m.subject,
  content: m.content,
  priority: m.priority,
  acceptedAt: m.acceptedAt,
});

/**
 * A provider send job: one channel, reason and priority. Failures of the job itself
 * (PostgreSQL or Redis unreachable) are retried by BullMQ with the capped backoff,
 * without end; a provider's failures never fail the job: the messages to try again go
 * to a later job of their own (laterSendJob), and their retry budget is counted in
 * PostgreSQL (worker.maxAttempts, renewed by a DLQ replay).
 */
function sendJob(data: SendJobData, jobId: string, delay = 0): SendJob {
  return {
    name: SEND_JOB_NAME,
    data,
    opts: {
      jobId,
      priority: JOB_PRIORITY[data.messages[0]!.priority],
      attempts: INGEST_ATTEMPTS,
      backoff: INGEST_BACKOFF,
      removeOnComplete: true,
      removeOnFail: 1000,
      ...(delay > 0 ? { delay } : {}),
    },
  };
}

/** One producer per provider channel queue. */
export function sendQueues(connection: RedisClient, keys: RedisKeys): Map<ProviderChannel, Queue<SendJobData>> {
  return new Map(
    PROVIDER_CHANNELS.map((c) => [c, new Queue<SendJobData>(sendQueueName(c), producerOptions(connection, keys, sendQueueName(c)))]),
  );
}

/** The provider channel that sends a message: its own, or an app message's fallback (null: none). */
function providerChannelOf(m: BufferedMessage): ProviderChannel | null {
  if (m.channel !== 'app') return m.channel;
  return (PROVIDER_CHANNELS as readonly string[]).includes(m.fallback ?? '') ? (m.fallback as ProviderChannel) : null;
}

interface Group {
  channel: ProviderChannel;
  reason: SendJobData['reason'];
  /** When the job is due (ms); 0: at once. */
  dueAt: number;
  messages: SendMessage[];
}

function groupKey(channel: ProviderChannel, reason: string, priority: string, dueAt: number): string {
  return `${channel}|${reason}|${priority}|${dueAt}`;
}

/** Groups of at most SEND_BATCH_MAX messages, in the order given, per channel, reason, priority and due time. */
function batches(entries: Iterable<{ channel: ProviderChannel; reason: SendJobData['reason']; dueAt: number; message: BufferedMessage }>) {
  const groups = new Map<string, Group>();
  for (const { channel, reason, dueAt, message } of entries) {
    const key = groupKey(channel, reason, message.priority, dueAt);
    const group = groups.get(key) ?? { channel, reason, dueAt, messages: [] };
    groups.set(key, group);
    group.messages.push(sendMessage(message));
  }
  const out: Group[] = [];
  for (const group of groups.values()) {
    for (let i = 0; i < group.messages.length; i += SEND_BATCH_MAX)
      out.push({ ...group, messages: group.messages.slice(i, i + SEND_BATCH_MAX) });
  }
  return out;
}

function addTo(byChannel: Map<ProviderChannel, SendJob[]>, channel: ProviderChannel, job: SendJob): void {
  const list = byChannel.get(channel);
  if (list) list.push(job);
  else byChannel.set(channel, [job]);
}

/**
 * The send jobs of freshly stored messages, per channel queue, each a batch of up to
 * SEND_BATCH_MAX of one priority. Provider messages are sent at once. An app message with
 * a fallback is sent only if no device acknowledged it once its fallbackAfterSeconds
 * (default 60) from acceptance (from its sendAt, if later) ran out: those sharing a due
 * second are one job, delayed until the end of that second, so none goes early and one
 * stored batch (accepted within a tick or two) makes one or two jobs rather than one per
 * message. `release` names one release of scheduled messages: a release rolled back and
 * done again adds new jobs, even while a job of the rolled-back one (which claims nothing:
 * its messages were not pending then) is still held by BullMQ; the provider claim keeps
 * the message to one call whichever job gets it.
 */
export function storedSendJobs(messages: readonly BufferedMessage[], now: number, release?: string): Map<ProviderChannel, SendJob[]> {
  const entries = [];
  for (const m of messages) {
    const channel = providerChannelOf(m);
    if (channel === null) continue;
    if (m.channel !== 'app') entries.push({ channel, reason: 'send' as const, dueAt: 0, message: m });
    else {
      // A scheduled message's timer starts at its release (sendAt), not at its acceptance.
      const due = dueAt(m) + (m.fallbackAfterSeconds ?? 60) * 1000;
      entries.push({ channel, reason: 'fallback' as const, dueAt: Math.ceil(due / 1000) * 1000, message: m });
    }
  }
  const byChannel = new Map<ProviderChannel, SendJob[]>();
  for (const { channel, reason, dueAt, messages: batch } of batches(entries)) {
    const id = digest([channel, reason, ...(release === undefined ? [] : [release]), ...batch.map((m) => m.id)]);
    const jobId = reason === 'send' ? `send-${id}` : `fallback-${dueAt / 1000}-${id}`;
    addTo(byChannel, channel, sendJob({ channel, reason, messages: batch }, jobId, Math.max(0, dueAt - now)));
  }
  return byChannel;
}

/** Why a send job hands messages on to a later one. */
export type LaterKind = 'retry' | 'wait';

/**
 * The job that carries on with some of a send job's messages after `delayMs`: `retry`
 * after a transient failure, `wait` while the providers' circuits are open or another call
 * of the message is in progress (`waiting`: its history already says why). Its id comes
 * from the job's id and the messages, so running the same job twice hands the same
 * messages on once.
 */
export function laterSendJob(
  parent: { id: string; data: SendJobData },
  kind: LaterKind,
  messages: readonly SendMessage[],
  delayMs: number,
  waiting = false,
): SendJob {
  const { channel, reason } = parent.data;
  const data: SendJobData = { channel, reason, messages: [...messages], ...(waiting ? { waiting: true } : {}) };
  return sendJob(data, `${kind}-${digest([parent.id, kind, ...messages.map((m) => m.id)])}`, Math.max(1, Math.ceil(delayMs)));
}

/**
 * Adds a channel's send jobs and, with `replicas`, waits until enough replicas hold them
 * (WAIT on the connection that added them, at their queue's master); rejects otherwise. A
 * failover of the master could lose jobs it alone held, and their messages would stay
 * `pending`, never sent. Every producer of send jobs adds them through this.
 */
export async function addSendJobs(queue: Queue<SendJobData>, jobs: SendJob[], replicas?: ReplicaWait): Promise<void> {
  await queue.addBulk(jobs);
  await replicas?.(queue.toKey('meta'));
}

/**
 * DLQ replay: each message is sent again exactly like a new attempt, through its own
 * channel or, for an app message, its fallback's (an app message without one waits for its
 * device; it has no job), in batches as storage makes them. Given to replayDeadLetters
 * (@esh3ar/db), which calls it inside the transaction that moves the messages back to
 * pending and commits only if it resolves. One addBulk (a MULTI) per channel queue. Job
 * ids are new for each replay, not derived from the messages alone: a failed replay's
 * jobs may still be waiting when the operator tries again, and an id shared with them
 * would make the new add a no-op while the old job is being skipped. Such an old job that
 * runs after the new replay committed sends nothing twice: the claim on each message row
 * lets one call through, and the first outcome recorded wins. `replicas` (addSendJobs): a
 * shortfall rejects, and the page rolls back. Returns the messages given a job.
 */
export async function enqueueReplays(
  queues: ReadonlyMap<ProviderChannel, Queue<SendJobData>>,
  messages: readonly BufferedMessage[],
  replicas?: ReplicaWait,
): Promise<number> {
  const replayId = randomUUID();
  const entries = [];
  for (const m of messages) {
    const channel = providerChannelOf(m);
    if (channel !== null) entries.push({ channel, reason: 'replay' as const, dueAt: 0, message: m });
  }
  const byChannel = new Map<ProviderChannel, SendJob[]>();
  batches(entries).forEach(({ channel, messages: batch }, i) =>
    addTo(byChannel, channel, sendJob({ channel, reason: 'replay', messages: batch }, `replay-${replayId}-${i}`)),
  );
  // Every queue's answer is awaited before a failure is thrown: the transaction then rolls
  // back with no add of this replay still in flight.
  const added = await Promise.allSettled([...byChannel].map(([channel, jobs]) => addSendJobs(queues.get(channel)!, jobs, replicas)));
  const failed = added.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return entries.length;
}
