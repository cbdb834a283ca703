import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from './buckets.ts';

/* The gateway's metrics: device connections, pushes and acks, status writes, replays and the limits that protect it. */

export function createGatewayMetrics(registry: Registry) {
  const pushesSkipped = new Counter({
    name: 'esh3ar_gateway_pushes_skipped_total',
    help: 'Message frames not sent to a connection, by reason (canceled: its sender canceled it before the push)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  // At 0 from the start, so that a rate (the Delivery dashboard's) sees the first skip.
  pushesSkipped.inc({ reason: 'canceled' }, 0);
  return {
    connections: new Gauge({
      name: 'esh3ar_gateway_connections',
      help: 'Open device connections on this gateway',
      registers: [registry],
    }),
    pushes: new Counter({
      name: 'esh3ar_gateway_pushes_total',
      help: 'Message frames sent to devices, by kind (live, replay, retry)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    pushesSkipped,
    acks: new Counter({
      name: 'esh3ar_gateway_acks_total',
      help: 'Acknowledgements received, by result (delivered: first ack; repeat: already acknowledged; canceled: of a message canceled after its push)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    ackLatency: new Histogram({
      name: 'esh3ar_gateway_ack_latency_seconds',
      help: 'Time from the first push of a message to its ack',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    acceptToDevice: new Histogram({
      name: 'esh3ar_accept_to_device_seconds',
      help: 'Time from 202 to the first push to a device, by priority',
      labelNames: ['priority'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    frameErrors: new Counter({
      name: 'esh3ar_gateway_frame_errors_total',
      help: 'Frames from devices that could not be used, by code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    rejectedUpgrades: new Counter({
      name: 'esh3ar_gateway_rejected_upgrades_total',
      help: 'WebSocket upgrades refused (bad, forged or expired token)',
      registers: [registry],
    }),
    statusWritesPending: new Gauge({
      name: 'esh3ar_gateway_status_writes_pending',
      help: 'Statuses taken and not yet written to PostgreSQL, by kind (delivered: acks; sent: pushes)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    statusWriteFailures: new Counter({
      name: 'esh3ar_gateway_status_write_failures_total',
      help: 'Status writes (one UPDATE each) that PostgreSQL did not take; they are tried again',
      registers: [registry],
    }),
    backPressure: new Gauge({
      name: 'esh3ar_gateway_back_pressure',
      help: '1 while pending status writes are at their cap: device sockets are not read and nothing is pushed',
      registers: [registry],
    }),
    replaysWaiting: new Gauge({
      name: 'esh3ar_gateway_replays_waiting',
      help: 'Connections whose replay waits for a turn (a few run at once) or for PostgreSQL to answer again',
      registers: [registry],
    }),
    replayFailures: new Counter({
      name: 'esh3ar_gateway_replay_failures_total',
      help: 'Replays that could not read PostgreSQL; each is tried again without closing the connection',
      registers: [registry],
    }),
    upgradesRefused: new Counter({
      name: 'esh3ar_gateway_upgrades_refused_total',
      help: 'WebSocket upgrades refused, by reason (token: 401; token_keys: 503, the issuer keys could not be fetched; phone_connections: 429; gateway_connections: 503)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    badFrameCloses: new Counter({
      name: 'esh3ar_gateway_bad_frame_closes_total',
      help: 'Connections closed with 1008 for sending more than GATEWAY_MAX_BAD_FRAMES bad frames in 10 s',
      registers: [registry],
    }),
    slowReaderPauses: new Counter({
      name: 'esh3ar_gateway_slow_reader_pauses_total',
      help: 'Times a connection held more than GATEWAY_SLOW_READER_BYTES unread: pushes to it stopped until its socket drained',
      registers: [registry],
    }),
    slowReaderCloses: new Counter({
      name: 'esh3ar_gateway_slow_reader_closes_total',
      help: 'Connections closed with 1013 for not draining within GATEWAY_SLOW_READER_CLOSE_MS',
      registers: [registry],
    }),
    slowReaders: new Gauge({
      name: 'esh3ar_gateway_slow_readers',
      help: 'Connections holding more than GATEWAY_SLOW_READER_BYTES unread: nothing is pushed to them until their socket drains',
      registers: [registry],
    }),
  };
}
export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
