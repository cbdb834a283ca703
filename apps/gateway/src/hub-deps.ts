import type { GatewayMetrics } from '@esh3ar/observability';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { StatusWriter } from './status-writer.ts';

/** What a DeviceHub is built with (device-hub.ts): its pool, status writer, telemetry and limits. */
export interface HubDeps {
  pool: pg.Pool;
  status: StatusWriter;
  metrics: GatewayMetrics;
  logger: Logger;
  ackTimeoutMs: () => number;
  replayPageSize: number;
  /** Replays reading PostgreSQL at once; the others wait their turn in arrival order. */
  replaysAtOnce: number;
  slowReaders: { maxBufferedBytes: number; closeAfterMs: number };
}
