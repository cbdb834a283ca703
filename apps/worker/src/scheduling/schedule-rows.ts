import type { RowToStore } from '@esh3ar/db';

/**
 * Which rows are stored as `scheduled` rather than `pending`: those whose sendAt is still
 * ahead when they are stored. One whose sendAt passed while it waited in the buffer goes
 * at once, as pending. Rows already failed (refused at the job's schema) stay as they are.
 */
export function scheduleRows(rows: RowToStore[], now = Date.now()): RowToStore[] {
  return rows.map((row) => {
    const { message, state } = row;
    if (state.status !== 'pending' || message.sendAt == null) return row;
    const at = Date.parse(message.sendAt);
    if (!(at > now)) return row;
    return { message, state: { ...state, status: 'scheduled', sendAt: message.sendAt } };
  });
}
