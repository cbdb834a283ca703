import { Counter, type Registry } from 'prom-client';
import { CHANNELS, type Channel } from './faults.ts';

/** What became of one send request on a known channel. */
export type Outcome = 'accepted' | 'duplicate' | 'invalid_recipient' | 'invalid_request' | 'injected' | 'down';

/** `GET /stats`, per channel. */
export interface ChannelStats {
  accepted: number;
  duplicates: number;
  /** 400s: invalid recipient or malformed request. */
  rejected: number;
  /** Injected failures and answers of a channel that is down. */
  failedInjected: number;
  /** Accepted items no longer kept by `GET /received` (memory bound). */
  dropped: number;
}

const STAT_OF: Record<Outcome, keyof ChannelStats> = {
  accepted: 'accepted',
  duplicate: 'duplicates',
  invalid_recipient: 'rejected',
  invalid_request: 'rejected',
  injected: 'failedInjected',
  down: 'failedInjected',
};

export interface OutcomeCounters {
  count(channel: Channel, outcome: Outcome): void;
  dropped(channel: Channel, items: number): void;
  stats(): Record<Channel, ChannelStats>;
}

/** The Prometheus counters and the plain numbers `GET /stats` answers, kept together so they never disagree. */
export function createOutcomeCounters(registry: Registry): OutcomeCounters {
  const requests = new Counter({
    name: 'esh3ar_provider_sim_requests_total',
    help: 'Send requests answered by provider-sim, by channel and outcome (accepted, duplicate, invalid_recipient, invalid_request, injected, down)',
    labelNames: ['channel', 'outcome'] as const,
    registers: [registry],
  });
  const droppedItems = new Counter({
    name: 'esh3ar_provider_sim_received_dropped_total',
    help: 'Accepted items provider-sim no longer keeps (oldest dropped to bound memory), by channel',
    labelNames: ['channel'] as const,
    registers: [registry],
  });
  const stats = Object.fromEntries(
    CHANNELS.map((c) => [c, { accepted: 0, duplicates: 0, rejected: 0, failedInjected: 0, dropped: 0 }]),
  ) as Record<Channel, ChannelStats>;

  return {
    count(channel, outcome) {
      requests.inc({ channel, outcome });
      stats[channel][STAT_OF[outcome]] += 1;
    },
    dropped(channel, items) {
      droppedItems.inc({ channel }, items);
      stats[channel].dropped += items;
    },
    stats: () => structuredClone(stats),
  };
}
