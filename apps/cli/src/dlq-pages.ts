import type { BufferedMessage } from '@esh3ar/contracts';
import { listDeadLetters, replayDeadLetters, type DeadLetter, type DlqFilter } from '@esh3ar/db';
import type pg from 'pg';

/**
 * Every dead letter matching `filter`, newest first, `pageSize` at a time, each page read
 * after the one before was handled. The cursor is the last row's (moved_to_dlq_at, id): a
 * row the consumer replays leaves the DLQ without moving it, and one that fails again and
 * comes back lands above it (a newer moved_to_dlq_at), so a run neither repeats a message
 * nor ends before the oldest match.
 */
export async function* deadLetterPages(pool: pg.Pool, filter: DlqFilter, pageSize: number): AsyncGenerator<DeadLetter[]> {
  let after: { at: string; id: string } | null = null;
  for (;;) {
    const page = await listDeadLetters(pool, filter, pageSize, after);
    if (page.length > 0) yield page;
    if (page.length < pageSize) return;
    const last = page.at(-1)!;
    after = { at: last.movedToDlqAt, id: last.id };
  }
}

export interface DlqTally {
  total: number;
  /** Per tenant and channel, the largest first. */
  groups: { tenantId: string; channel: string; count: number }[];
}

/** How many dead letters match, per tenant and channel; reads only. */
export async function tallyDeadLetters(pool: pg.Pool, filter: DlqFilter, pageSize: number): Promise<DlqTally> {
  const counts = new Map<string, { tenantId: string; channel: string; count: number }>();
  let total = 0;
  for await (const page of deadLetterPages(pool, filter, pageSize)) {
    for (const { tenantId, channel } of page) {
      const key = `${tenantId}|${channel}`;
      const group = counts.get(key) ?? { tenantId, channel, count: 0 };
      group.count += 1;
      counts.set(key, group);
    }
    total += page.length;
  }
  const groups = [...counts.values()].sort(
    (a, b) => b.count - a.count || a.tenantId.localeCompare(b.tenantId) || a.channel.localeCompare(b.channel),
  );
  return { total, groups };
}

/**
 * Replays every dead letter matching `filter`, one transaction per page (replayDeadLetters:
 * a page leaves the DLQ only once all its jobs are in Redis). `onPage` gets the number of
 * dead letters read, replayed or not (one kept without its tenant or content is not).
 * Returns the ids replayed.
 */
export async function replayAllDeadLetters(
  pool: pg.Pool,
  filter: DlqFilter,
  pageSize: number,
  enqueue: (messages: readonly BufferedMessage[]) => Promise<unknown>,
  onPage: (read: number) => void,
): Promise<string[]> {
  const replayed: string[] = [];
  try {
    for await (const page of deadLetterPages(pool, filter, pageSize)) {
      const moved = await replayDeadLetters(
        pool,
        page.map((d) => d.id),
        enqueue,
      );
      for (const m of moved) replayed.push(m.id);
      onPage(page.length);
    }
  } catch (error) {
    if (replayed.length === 0) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${reason} (${replayed.length} dead letters were replayed before this; the others are still in the DLQ)`, {
      cause: error,
    });
  }
  return replayed;
}
