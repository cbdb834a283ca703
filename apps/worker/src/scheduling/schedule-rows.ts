import type { QuietHours, RowToStore } from '@esh3ar/db';
import type { SchedulingMetrics } from '@esh3ar/observability';
import { quietHold } from './quiet-hours.ts';

/** A tenant's quiet hours, from memory (QuietHoursCache). */
export type QuietHoursOf = (tenantId: string) => QuietHours | undefined;

/**
 * Which rows are stored as `scheduled` rather than `pending`: those whose sendAt is still
 * ahead when they are stored (quiet hours are looked at when they are released), and those
 * that would go out now inside their tenant's quiet hours, held until the window ends with
 * the reason in words. One whose sendAt passed while it waited in the buffer goes at once,
 * as pending, unless quiet hours hold it. Rows already failed (refused at the job's schema)
 * stay as they are.
 */
export function scheduleRows(rows: RowToStore[], quietHoursOf: QuietHoursOf, now = Date.now()): RowToStore[] {
  return rows.map((row) => {
    const { message, state } = row;
    if (state.status !== 'pending') return row;
    if (message.sendAt != null && Date.parse(message.sendAt) > now) {
      return { message, state: { ...state, status: 'scheduled', sendAt: message.sendAt } };
    }
    const hold = quietHold(quietHoursOf(message.tenantId), message, now);
    if (hold === null) return row;
    return { message, state: { ...state, status: 'scheduled', sendAt: hold.until.toISOString(), heldReason: hold.reason } };
  });
}

/** scheduleRows for PersistBatcher, counting what it schedules. */
export function rowScheduler(
  quietHoursOf: QuietHoursOf,
  metrics: SchedulingMetrics,
  clock = Date.now,
): (rows: RowToStore[]) => RowToStore[] {
  return (rows) => {
    const scheduled = scheduleRows(rows, quietHoursOf, clock());
    let held = 0;
    let ahead = 0;
    for (const [i, row] of scheduled.entries()) {
      if (row === rows[i]) continue;
      if (row.state.heldReason == null) ahead++;
      else held++;
    }
    if (ahead > 0) metrics.stored.inc({ as: 'scheduled' }, ahead);
    if (held > 0) metrics.stored.inc({ as: 'held' }, held);
    return scheduled;
  };
}
