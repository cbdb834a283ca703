import type { BufferedMessage, ProviderChannel, SendJobData } from '@esh3ar/contracts';
import type { DispatchMetrics, ProviderMetrics } from '@esh3ar/observability';
import type { Queue } from 'bullmq';
import { enqueueStored } from '../providers/send-producer.ts';
import { routeDeliveries, type ExpiresAtOf } from './route-deliveries.ts';
import type { RedisClient, ReplicaWait } from '@esh3ar/queue';

export interface PipelineDeps {
  redis: RedisClient;
  prefix: string;
  sendQueues: ReadonlyMap<ProviderChannel, Queue<SendJobData>>;
  /** Waits until enough replicas hold what a queue's master took (REDIS_WAIT_REPLICAS; none: the master alone). */
  replicas?: ReplicaWait;
  dispatchMetrics: DispatchMetrics;
  providerMetrics: ProviderMetrics;
}

/**
 * What happens to a batch once it is stored (PersistBatcher's afterStore): app messages
 * are published to the gateways holding their phones, then every message a provider may
 * send gets its send or delayed fallback job. It runs before the ingest jobs are
 * acknowledged, so a failure retries them, the merge finds the rows, and it runs again
 * (the send jobs' ids, send-<id> and fallback-<id>, keep a job BullMQ still holds from
 * being added twice).
 */
export function storedMessagePipeline(
  deps: PipelineDeps,
): (messages: readonly BufferedMessage[], expiresAtOf?: ExpiresAtOf, release?: string) => Promise<void> {
  const { publish, enqueue } = pipelineSteps(deps);
  return async (messages, expiresAtOf, release) => {
    await publish(messages, expiresAtOf);
    await enqueue(messages, release);
  };
}

/** The two steps: app messages to the gateways holding their phones; provider send and fallback jobs. */
function pipelineSteps(deps: PipelineDeps) {
  const { redis, prefix, sendQueues, replicas, dispatchMetrics, providerMetrics } = deps;
  return {
    publish: async (messages: readonly BufferedMessage[], expiresAtOf?: ExpiresAtOf) => {
      const { routed, offline } = await routeDeliveries(redis, prefix, messages, expiresAtOf);
      dispatchMetrics.dispatched.inc({ outcome: 'routed' }, routed);
      dispatchMetrics.dispatched.inc({ outcome: 'offline' }, offline);
    },
    enqueue: (messages: readonly BufferedMessage[], release?: string) =>
      enqueueStored(sendQueues, providerMetrics, messages, { release, replicas }),
  };
}

/**
 * The same for scheduled messages a release round moves to pending, in two steps around its
 * commit. The provider jobs before it: a claim waits for the round's row locks, and a round
 * rolled back leaves jobs that claim nothing. The gateways after it: a device's ack (or the
 * gateway's sent mark) written before the commit would match no pending row, so it would be
 * lost, and an app message with a fallback sent by SMS although the device had it. A worker
 * that dies between the commit and the publish leaves the messages pending: devices get
 * them on their next connect (the replay), and a fallback is due as usual.
 */
export function releasedMessagePipeline(deps: PipelineDeps): {
  beforeCommit: (messages: readonly BufferedMessage[], release: string) => Promise<void>;
  afterCommit: (messages: readonly BufferedMessage[], expiresAtOf: ExpiresAtOf) => Promise<void>;
} {
  const { publish, enqueue } = pipelineSteps(deps);
  return { beforeCommit: enqueue, afterCommit: publish };
}
