import { Counter, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from './buckets.ts';

const STORED_AS = ['scheduled', 'held'] as const;
const RELEASE_OUTCOMES = ['released', 'held'] as const;
const ROUND_OUTCOMES = ['done', 'failed'] as const;

/**
 * The worker's scheduled messages: stored to wait (their own sendAt, or quiet hours), then
 * released by the release loop at their time, or held again for quiet hours.
 */
export function createSchedulingMetrics(registry: Registry) {
  const stored = new Counter({
    name: 'esh3ar_schedule_stored_total',
    help: 'Messages stored as scheduled, by why (scheduled: their sendAt is ahead; held: quiet hours at storage)',
    labelNames: ['as'] as const,
    registers: [registry],
  });
  const released = new Counter({
    name: 'esh3ar_schedule_released_total',
    help: 'Due scheduled messages taken by the release loop, by outcome (released: now pending; held: quiet hours, waiting again)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const rounds = new Counter({
    name: 'esh3ar_schedule_rounds_total',
    help: 'Release rounds, by outcome (failed: PostgreSQL or Redis unavailable; the next round retries)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  // Every series from the start (at 0), so that a rate or an alert sees the first one.
  for (const as of STORED_AS) stored.inc({ as }, 0);
  for (const outcome of RELEASE_OUTCOMES) released.inc({ outcome }, 0);
  for (const outcome of ROUND_OUTCOMES) rounds.inc({ outcome }, 0);
  return {
    stored,
    released,
    rounds,
    roundDuration: new Histogram({
      name: 'esh3ar_schedule_round_duration_seconds',
      help: 'One release round: take the due rows, release or hold them, publish and enqueue the released, commit',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    // The contract promises release within 1 s of sendAt under normal load: 1 sits between
    // buckets; the long tail shows a backlog draining.
    lag: new Histogram({
      name: 'esh3ar_schedule_release_lag_seconds',
      help: 'From a released message’s sendAt (or the end of the quiet hours holding it) to the round that released it',
      buckets: [0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60, 300, 900],
      registers: [registry],
    }),
  };
}
export type SchedulingMetrics = ReturnType<typeof createSchedulingMetrics>;
