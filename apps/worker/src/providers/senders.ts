import type { RuntimeConfig } from '@esh3ar/config';
import { PROVIDER_CHANNELS, sendQueueName, type BufferedMessage, type ProviderChannel, type SendJobData } from '@esh3ar/contracts';
import type { ProviderMetrics } from '@esh3ar/observability';
import { cappedBackoffMs, publishClosed, publishOpen, sharedOpenUntil, storedSendJobs, type BreakerState } from '@esh3ar/queue';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Logger } from 'pino';
import { providerPolicy, stateName, type ProviderPolicy } from './breaker-policy.ts';
import { RetryLater, sendProcessor } from './send-processor.ts';

export interface SendersOptions {
  pool: pg.Pool;
  redis: Redis;
  prefix: string;
  logger: Logger;
  metrics: ProviderMetrics;
  runtime: () => RuntimeConfig;
  providerBaseUrl: string;
  /** Send jobs in hand per channel and worker process. */
  concurrency: number;
  timeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  lockDurationMs: number;
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };
/** Calls that may wait in a channel's bulkhead per call in flight. */
const BULKHEAD_QUEUE_PER_SLOT = 4;

/**
 * The provider side of a worker: one BullMQ queue and worker per channel (a slow
 * provider only fills its own), a cockatiel policy per channel whose breaker state is
 * shared through Redis, and the producers used after storage, for fallbacks and for
 * DLQ replays.
 */
export class ProviderSenders {
  readonly #queues = new Map<ProviderChannel, Queue<SendJobData>>();
  readonly #workers: Worker<SendJobData>[] = [];
  readonly #policies = new Map<ProviderChannel, ProviderPolicy>();
  #policyKey = '';
  #sharedOpen = new Map<ProviderChannel, number>();
  readonly #poller: NodeJS.Timeout;
  readonly #options: SendersOptions;

  constructor(options: SendersOptions) {
    this.#options = options;
    const { redis, prefix } = options;
    this.#refreshPolicies();
    const processor = sendProcessor({
      pool: options.pool,
      logger: options.logger,
      providerBaseUrl: options.providerBaseUrl,
      policies: this.#policies,
      sharedOpenUntil: (channel) => this.#sharedOpen.get(channel) ?? 0,
      runtime: options.runtime,
      onOutcome: (channel, outcome) => options.metrics.outcomes.inc({ channel, outcome }),
      // A call waits behind at most maxQueued / maxConcurrent = 4 others per slot in the
      // bulkhead (#refreshPolicies), each ended by the timeout, then takes at most the
      // timeout itself; 1 s more for the claim's and the outcome's round trips.
      callLeaseMs: options.timeoutMs * (1 + BULKHEAD_QUEUE_PER_SLOT) + 1000,
    });
    for (const channel of PROVIDER_CHANNELS) {
      this.#queues.set(channel, new Queue<SendJobData>(sendQueueName(channel), { connection: redis, prefix }));
      const worker = new Worker<SendJobData>(
        sendQueueName(channel),
        async (job, token) => {
          this.#refreshPolicies();
          return processor(job, token);
        },
        {
          connection: redis,
          prefix,
          concurrency: options.concurrency,
          lockDuration: options.lockDurationMs,
          stalledInterval: Math.max(1000, Math.floor(options.lockDurationMs / 2)),
          maxStalledCount: 1_000_000,
          settings: {
            backoffStrategy: (attemptsMade: number, _type?: string, error?: Error) =>
              error instanceof RetryLater && error.retryAfterMs !== undefined
                ? Math.max(error.retryAfterMs, 50)
                : cappedBackoffMs(attemptsMade, options.retryBaseMs, options.retryMaxMs),
          },
        },
      );
      worker.on('error', (error) => options.logger.warn({ err: error, channel }, 'send worker error'));
      this.#workers.push(worker);
    }
    this.#poller = setInterval(() => {
      sharedOpenUntil(redis, prefix).then(
        (open) => {
          this.#sharedOpen = open;
        },
        (error: Error) => options.logger.warn({ err: error }, 'shared breaker state not read'),
      );
    }, 250);
    this.#poller.unref();
  }

  /** Rebuilt when the runtime configuration's breaker settings change. */
  #refreshPolicies(): void {
    const { breaker } = this.#options.runtime();
    const key = `${breaker.failureThreshold}:${breaker.halfOpenAfterMs}`;
    if (key === this.#policyKey) return;
    this.#policyKey = key;
    const { redis, prefix, logger, metrics } = this.#options;
    for (const channel of PROVIDER_CHANNELS) {
      const p = providerPolicy(channel, {
        failureThreshold: breaker.failureThreshold,
        halfOpenAfterMs: breaker.halfOpenAfterMs,
        timeoutMs: this.#options.timeoutMs,
        maxConcurrent: this.#options.concurrency,
        maxQueued: this.#options.concurrency * BULKHEAD_QUEUE_PER_SLOT,
      });
      p.breaker.onStateChange((state) => {
        const name = stateName(state);
        metrics.breakerState.set({ channel }, STATE_VALUE[name]);
        logger.warn({ channel, state: name }, 'provider circuit breaker changed state');
        const published = name === 'open' ? publishOpen(redis, prefix, channel, breaker.halfOpenAfterMs) : name === 'closed' ? publishClosed(redis, prefix, channel) : null;
        published?.catch((error: Error) => logger.warn({ err: error, channel }, 'breaker state not shared'));
      });
      metrics.breakerState.set({ channel }, 0);
      this.#policies.set(channel, p);
    }
  }

  breakerStates(): Record<ProviderChannel, BreakerState> {
    const now = Date.now();
    return Object.fromEntries(
      PROVIDER_CHANNELS.map((c) => {
        const local = stateName(this.#policies.get(c)!.breaker.state);
        return [c, local === 'closed' && (this.#sharedOpen.get(c) ?? 0) > now ? 'open' : local];
      }),
    ) as Record<ProviderChannel, BreakerState>;
  }

  /** After storage: provider messages to their channel's queue; app messages with a fallback, delayed. */
  async enqueueStored(messages: readonly BufferedMessage[]): Promise<void> {
    const byChannel = storedSendJobs(messages, Date.now());
    for (const [channel, jobs] of byChannel) {
      const fallbacks = jobs.filter((j) => j.data.reason === 'fallback').length;
      if (fallbacks > 0) this.#options.metrics.fallbacks.inc({ channel }, fallbacks);
    }
    await Promise.all([...byChannel].map(([channel, jobs]) => this.#queues.get(channel)!.addBulk(jobs)));
  }

  async close(): Promise<void> {
    clearInterval(this.#poller);
    await Promise.allSettled(this.#workers.map((w) => w.close()));
    await Promise.allSettled([...this.#queues.values()].map((q) => q.close()));
  }
}
