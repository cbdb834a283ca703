import { Gauge, type Registry } from 'prom-client';

/** The BullMQ job states worth watching: backlog (waiting, prioritized, delayed), work in hand, and failures kept. */
const QUEUE_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'failed'] as const;

/** What the gauge needs of a BullMQ Queue (a Queue is one; this package does not depend on bullmq). */
export interface CountedQueue {
  readonly name: string;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
}

/**
 * esh3ar_queue_jobs{queue, state}, read from Redis at each scrape (Queue.getJobCounts: one
 * pipelined round trip per queue). Every worker reports the same numbers, so dashboards
 * take max by (queue, state). A scrape while Redis is unreachable reports no series rather
 * than the last numbers: a stale backlog would hide that nobody can read it.
 */
export function createQueueMetrics(registry: Registry, queues: readonly CountedQueue[]) {
  const jobs: Gauge<'queue' | 'state'> = new Gauge({
    name: 'esh3ar_queue_jobs',
    help: 'BullMQ jobs per queue and state (waiting, prioritized, delayed, active, failed), as read from Redis at scrape time',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      jobs.reset();
      const counts = await Promise.all(
        queues.map((queue) =>
          queue.getJobCounts(...QUEUE_STATES).then(
            (c) => [queue.name, c] as const,
            () => null,
          ),
        ),
      );
      for (const entry of counts) {
        if (entry === null) continue;
        const [queue, byState] = entry;
        for (const state of QUEUE_STATES) jobs.set({ queue, state }, byState[state] ?? 0);
      }
    },
  });
  return { jobs };
}
