import { PROVIDER_CHANNELS, sendQueueName, type SendJobData } from '@esh3ar/contracts';
import type { ProviderMetrics } from '@esh3ar/observability';
import type { RuntimeConfig } from '@esh3ar/runtime';
import { Worker } from 'bullmq';
import type pg from 'pg';
import type { Logger } from 'pino';
import { jobWorkerOptions, type JobWorkerSettings } from '../job-worker-options.ts';
import type { ChannelProviders } from './adapters/create-adapters.ts';
import { BULKHEAD_QUEUE_PER_SLOT, type ProviderBreakers } from './breakers.ts';
import { RetryLater, sendProcessor } from './send-processor.ts';

export interface SendWorkersOptions {
  pool: pg.Pool;
  logger: Logger;
  metrics: ProviderMetrics;
  runtime: () => RuntimeConfig;
  breakers: ProviderBreakers;
  /** Each channel's providers, in failover order. */
  providers: ChannelProviders;
  timeoutMs: number;
  /** Shared with the ingest worker; `concurrency` is the send jobs in hand per channel. */
  worker: JobWorkerSettings;
}

/** A provider's Retry-After, at least 50 ms; other failures take the usual backoff. */
function providerRetryAfter(error: Error | undefined): number | undefined {
  return error instanceof RetryLater && error.retryAfterMs !== undefined ? Math.max(error.retryAfterMs, 50) : undefined;
}

/**
 * One BullMQ worker per provider channel, so that a slow provider only fills its own
 * queue, each job sent through the first of its channel's providers whose breaker is not
 * open. Close them with `Worker.close()`, then the adapters.
 */
export function startSendWorkers(options: SendWorkersOptions): Worker<SendJobData>[] {
  const { breakers, logger } = options;
  const processor = sendProcessor({
    pool: options.pool,
    logger,
    providers: options.providers,
    policy: (channel, provider) => breakers.policy(channel, provider),
    sharedOpenUntil: (channel, provider) => breakers.sharedOpenUntil(channel, provider),
    runtime: options.runtime,
    onOutcome: (channel, outcome) => options.metrics.outcomes.inc({ channel, outcome }),
    // A call waits behind at most maxQueued / maxConcurrent = 4 others per slot in the
    // bulkhead (ProviderBreakers), each ended by the timeout, then takes at most the
    // timeout itself; 1 s more for the claim's and the outcome's round trips.
    callLeaseMs: options.timeoutMs * (1 + BULKHEAD_QUEUE_PER_SLOT) + 1000,
  });
  return PROVIDER_CHANNELS.map((channel) => {
    const worker = new Worker<SendJobData>(
      sendQueueName(channel),
      async (job, token) => {
        breakers.refresh();
        return processor(job, token);
      },
      jobWorkerOptions(options.worker, providerRetryAfter),
    );
    worker.on('error', (error) => logger.warn({ err: error, channel }, 'send worker error'));
    return worker;
  });
}
