import type { GatewayMetrics } from '@esh3ar/observability';
import type { Logger } from 'pino';
import type { Connection } from './connection.ts';
import type { StatusWriter } from './status-writer.ts';

interface BackPressureDeps {
  status: StatusWriter;
  metrics: GatewayMetrics;
  logger: Logger;
}

/*
 * Back-pressure: while the status writer is full (PostgreSQL not taking the writes, or
 * slower than the acks), no device socket is read and nothing is pushed (device-hub.ts
 * holds the flag). Unread acks wait in the sockets (TCP flow control holds them on the
 * device), so that none taken is ever dropped and the writer holds at most its cap plus
 * what ws had already read; not pushing means no message is shown whose ack could not be
 * recorded, and no new acks are asked for. What was not pushed is stored in PostgreSQL:
 * those connections replay once the writer drains.
 */

/** The status writer is full: device sockets are no longer read. */
export function stopReading(connections: readonly Connection[], deps: BackPressureDeps): void {
  deps.metrics.backPressure.set(1);
  for (const c of connections) c.socket.pause();
  deps.logger.warn(
    { pendingStatuses: deps.status.pending, connections: connections.length },
    'status writes at their cap: device sockets not read and nothing pushed until they drain',
  );
}

/** The status writer drained: device sockets are read again. */
export function readAgain(connections: readonly Connection[], deps: BackPressureDeps): void {
  deps.metrics.backPressure.set(0);
  for (const c of connections) c.socket.resume();
  deps.logger.info(
    { pendingStatuses: deps.status.pending, connections: connections.length },
    'status writes drained: reading device sockets and pushing again',
  );
}
