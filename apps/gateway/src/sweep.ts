import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Connection } from './device-hub.ts';

/**
 * Connections per slice of a sweep. Pinging 10,000 connections (a socket write each)
 * in one go stalled the gateway's event loop for ~400 ms, and every delivery with it
 * (`pnpm bench`, gateway phase, "longest loop stall"). A slice of 500 takes a few ms.
 */
const SLICE = 500;

type EachSlice = (slice: readonly Connection[]) => void | Promise<void>;

/**
 * Calls `each` on slices of the connections, yielding to the event loop between slices
 * (so that live deliveries are never held up behind a sweep), or pausing so that they
 * spread over `spreadMs`; stops between slices once `stopped()`.
 */
export async function sweepSlices(
  connections: readonly Connection[],
  each: EachSlice,
  stopped: () => boolean,
  spreadMs = 0,
): Promise<void> {
  const pause = spreadMs / Math.ceil(connections.length / SLICE);
  for (let i = 0; i < connections.length && !stopped(); i += SLICE) {
    if (i > 0) await (pause >= 1 ? sleep(pause, undefined, { ref: false }) : nextTurn());
    await each(connections.slice(i, i + SLICE));
  }
}

export interface SweepEveryOptions {
  intervalMs: number;
  /** Over which the slices of one sweep spread. */
  spreadMs: number;
  connections: () => readonly Connection[];
  each: EachSlice;
  stopped: () => boolean;
  logger: Logger;
}

/**
 * A sweep over the connections every `intervalMs`, its slices spread over `spreadMs`;
 * a sweep still running when the next is due lets that one pass. Returns its timer (unref'd).
 */
export function sweepEvery({ intervalMs, spreadMs, connections, each, stopped, logger }: SweepEveryOptions): NodeJS.Timeout {
  let sweeping = false;
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    sweepSlices(connections(), each, stopped, spreadMs)
      .catch((error: Error) => logger.warn({ err: error }, 'heartbeat sweep failed; retrying at the next beat'))
      .finally(() => {
        sweeping = false;
      });
  }, intervalMs);
  timer.unref();
  return timer;
}
