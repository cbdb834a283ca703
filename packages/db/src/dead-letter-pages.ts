import type { BufferedMessage } from '@esh3ar/contracts';
import type pg from 'pg';
import { pageOfDeadLetters, replayDeadLetters, type DlqCursor, type DlqFilter } from './dead-letters.ts';
import { sql } from './sql-files.ts';

// Replays by filter, however many match (POST /v1/admin/dlq/replay, `esh3ar dlq replay --all`),
// and their dry runs.

export interface DlqTally {
  total: number;
  /** Per tenant and channel, the largest first. */
  groups: { tenantId: string; channel: string; count: number }[];
}

/** How many dead letters a replay with `filter` would replay, per tenant and channel; reads only. */
export async function tallyDeadLetters(pool: pg.Pool, filter: DlqFilter): Promise<DlqTally> {
  const { rows } = await pool.query<{ tenant_id: string; channel: string; count: number }>(sql('dlq-count'), [
    filter.tenantId ?? null,
    filter.channel ?? null,
    filter.error ?? null,
    filter.since ?? null,
    filter.until ?? null,
  ]);
  const groups = rows.map((r) => ({ tenantId: r.tenant_id, channel: r.channel, count: r.count }));
  return { total: groups.reduce((sum, g) => sum + g.count, 0), groups };
}

export interface ReplayBounds {
  /** Dead letters read, and replayed in one transaction, at a time. */
  pageSize: number;
  /** At most this many replayed; absent or null: every match. */
  limit?: number | null;
  /** Asked before each page after the first: true ends the run there (a request's time budget). */
  stop?: () => boolean;
  /** After each page committed: how many it replayed. The next page is read once it resolves. */
  onPage?: (replayed: number) => void | Promise<void>;
}

export interface ReplayRun {
  ids: string[];
  /** Ended by `limit` or `stop` with matches left: the same replay again goes on with them. */
  more: boolean;
}

/**
 * A replay by filter that a page failed (Redis or PostgreSQL down): the pages before it are
 * replayed (`replayed`), that page and the rest are still dead letters.
 */
export class DlqReplayStopped extends Error {
  readonly code = 'DLQ_REPLAY_STOPPED';
  readonly replayed: readonly string[];

  constructor(replayed: readonly string[], cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`${reason} (${replayed.length} dead letters were replayed before this; the others are still in the DLQ)`, { cause });
    this.replayed = replayed;
  }
}

/**
 * Replays every dead letter matching `filter` within `bounds`, newest first, one transaction
 * per page (replayDeadLetters: a page leaves the DLQ only once all its jobs are in Redis),
 * each page read after the one before committed. The cursor is the last row's
 * (moved_to_dlq_at to the microsecond, id), going down: a message replayed here that fails
 * again, and one dead-lettered while this runs, lands above it (moved_to_dlq_at is the time
 * it was dead-lettered), so a run never replays a message twice and reaches the oldest match.
 * Throws DlqReplayStopped when a page fails after others were replayed.
 */
export async function replayAllDeadLetters(
  pool: pg.Pool,
  filter: DlqFilter,
  bounds: ReplayBounds,
  enqueue: (messages: readonly BufferedMessage[]) => Promise<unknown>,
): Promise<ReplayRun> {
  const pages: DlqFilter = { ...filter, replayableOnly: true };
  const ids: string[] = [];
  let after: DlqCursor | null = null;
  try {
    for (;;) {
      const size = Math.min(bounds.pageSize, (bounds.limit ?? Infinity) - ids.length);
      if (size <= 0 || (after !== null && bounds.stop?.() === true)) {
        // Stopped early: `more` only if a match is left below the cursor, not merely possible.
        return { ids, more: (await pageOfDeadLetters(pool, pages, 1, after)).length > 0 };
      }
      const page = await pageOfDeadLetters(pool, pages, size, after);
      if (page.length === 0) return { ids, more: false };
      const moved = await replayDeadLetters(
        pool,
        page.map((listed) => listed.letter.id),
        enqueue,
      );
      for (const m of moved) ids.push(m.id);
      await bounds.onPage?.(moved.length);
      if (page.length < size) return { ids, more: false };
      after = page.at(-1)!.cursor;
    }
  } catch (error) {
    if (ids.length === 0) throw error;
    throw new DlqReplayStopped(ids, error);
  }
}
