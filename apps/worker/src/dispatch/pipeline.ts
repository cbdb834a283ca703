import type { BufferedMessage, ProviderChannel, SendJobData } from '@esh3ar/contracts';
import type { DispatchMetrics, ProviderMetrics } from '@esh3ar/observability';
import type { Queue } from 'bullmq';
import { enqueueStored } from '../providers/send-producer.ts';
import { routeDeliveries, type ExpiresAtOf } from './route-deliveries.ts';
import type { RedisClient } from '@esh3ar/queue';

export interface PipelineDeps {
  redis: RedisClient;
  prefix: string;
  sendQueues: ReadonlyMap<ProviderChannel, Queue<SendJobData>>;
  dispatchMetrics: DispatchMetrics;
  providerMetrics: ProviderMetrics;
}

/**
 * What happens to a batch once it is stored (PersistBatcher's afterStore), and to scheduled
 * messages once released (scheduling/release-loop.ts, with their stored TTLs): app messages
 * are published to the gateways holding their phones, then every message a provider may
 * send gets its send or delayed fallback job. It runs before the ingest jobs are
 * acknowledged, so a failure retries them, the merge finds the rows, and it runs again
 * (the send jobs' ids, send-<id> and fallback-<id>, keep a job BullMQ still holds from
 * being added twice).
 */
export function storedMessagePipeline(
  deps: PipelineDeps,
): (messages: readonly BufferedMessage[], expiresAtOf?: ExpiresAtOf, release?: string) => Promise<void> {
  const { redis, prefix, sendQueues, dispatchMetrics, providerMetrics } = deps;
  return async (messages, expiresAtOf, release) => {
    const { routed, offline } = await routeDeliveries(redis, prefix, messages, expiresAtOf);
    dispatchMetrics.dispatched.inc({ outcome: 'routed' }, routed);
    dispatchMetrics.dispatched.inc({ outcome: 'offline' }, offline);
    await enqueueStored(sendQueues, providerMetrics, messages, release);
  };
}
