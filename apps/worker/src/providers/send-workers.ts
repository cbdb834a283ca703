import { PROVIDER_CHANNELS, sendQueueName, type ProviderChannel, type SendJobData } from '@esh3ar/contracts';
import type { ProviderMetrics } from '@esh3ar/observability';
import type { RuntimeConfig } from '@esh3ar/runtime';
import { Worker, type Queue } from 'bullmq';
import type pg from 'pg';
import type { Logger } from 'pino';
import { jobWorkerOptions, type JobWorkerSettings } from '../job-worker-options.ts';
import type { ChannelProviders } from './adapters/create-adapters.ts';
import type { ProviderBreakers } from './breakers.ts';
import { inFlightLimit } from './in-flight.ts';
import type { TakeTokens } from './provider-rates.ts';
import { sendProcessor } from './send-processor.ts';
import type { Outcome } from './send-outcome.ts';

export interface SendWorkersOptions {
  pool: pg.Pool;
  logger: Logger;
  metrics: ProviderMetrics;
  runtime: () => RuntimeConfig;
  breakers: ProviderBreakers;
  /** Each channel's providers, in failover order. */
  providers: ChannelProviders;
  /** Each channel's queue, for the later jobs of a job's messages. */
  queues: ReadonlyMap<ProviderChannel, Queue<SendJobData>>;
  takeTokens: TakeTokens;
  timeoutMs: number;
  /** Provider calls in flight in this worker at most, all channels together. */
  maxInFlight: number;
  /** Shared with the ingest worker; `concurrency` is the send jobs (batches) in hand per channel. */
  worker: JobWorkerSettings;
}

export interface SendWorkers {
  /** Starts no call after it; the jobs in hand end their calls and hand their other messages on; then the BullMQ workers close. */
  close(): Promise<void>;
}

/**
 * One BullMQ worker per provider channel, so that a slow provider only fills its own
 * queue, each job's messages sent through the first of its channel's providers whose
 * breaker is not open, all channels' calls within one in-flight limit. Close it, then the
 * adapters.
 */
export function startSendWorkers(options: SendWorkersOptions): SendWorkers {
  const { breakers, logger } = options;
  const stopping = new AbortController();
  const processor = sendProcessor({
    pool: options.pool,
    logger,
    providers: options.providers,
    policy: (channel, provider) => breakers.policy(channel, provider),
    sharedOpenUntil: (channel, provider) => breakers.sharedOpenUntil(channel, provider),
    probeAfter: (channel, provider) => breakers.probeAfter(channel, provider),
    runtime: options.runtime,
    queues: options.queues,
    // Twice the calls in flight: while half wait for their answers, the other half are
    // claimed or recorded, so a claim's round trip (~20 ms under load) leaves no call slot idle.
    claimed: inFlightLimit(2 * options.maxInFlight),
    inFlight: inFlightLimit(options.maxInFlight),
    takeTokens: options.takeTokens,
    onOutcome: (channel, outcome, count) => options.metrics.outcomes.inc({ channel, outcome }, count),
    // A claimed message waits for a call slot behind at most maxInFlight others, each of
    // which may wait for a half-open probe's outcome (one timeout) and then take one; then
    // it may do the same itself; 1 s more for the outcome's round trip.
    leaseMs: 4 * options.timeoutMs + 1000,
    retry: { baseMs: options.worker.retryBaseMs, maxMs: options.worker.retryMaxMs },
    stopping: stopping.signal,
  });
  const workers = PROVIDER_CHANNELS.map((channel) => {
    const worker = new Worker<SendJobData, Partial<Record<Outcome, number>>>(
      sendQueueName(channel),
      async (job) => {
        breakers.refresh();
        const counts: Partial<Record<Outcome, number>> = {};
        for (const outcome of (await processor(job)).values()) counts[outcome] = (counts[outcome] ?? 0) + 1;
        return counts;
      },
      jobWorkerOptions(sendQueueName(channel), options.worker),
    );
    worker.on('error', (error) => logger.warn({ err: error, channel }, 'send worker error'));
    return worker;
  });
  return {
    async close() {
      stopping.abort();
      await Promise.allSettled(workers.map((w) => w.close()));
    },
  };
}
