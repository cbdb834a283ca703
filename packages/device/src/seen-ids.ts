/** Where a message id stands on this device: its handler is running, or it resolved. */
export type IdState = 'handling' | 'handled';

/**
 * The 10,000 most recent ids: a duplicate comes from the gateway's replay after a
 * reconnect or its re-push after its ack timeout (30 s), i.e. among the latest messages;
 * 10,000 ids hold ~1 MiB.
 */
export const DEFAULT_REMEMBERED_IDS = 10_000;

/** Records `id` as the newest, forgetting the oldest past `max` (a Map iterates in insertion order). */
export function remember(seen: Map<string, IdState>, id: string, state: IdState, max: number): void {
  seen.delete(id);
  seen.set(id, state);
  while (seen.size > max) seen.delete(seen.keys().next().value!);
}
