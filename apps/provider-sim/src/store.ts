import type { Channel } from './faults.ts';

/** One accepted send, as `GET /received` lists it. */
export interface ReceivedItem {
  id: string;
  channel: Channel;
  to: string;
  text: string;
  subject: string | null;
  idempotencyKey: string;
  receivedAt: string;
}

export interface StoreLimits {
  /** Items kept; the oldest goes first. */
  maxItems: number;
  /** Characters of to + text + subject + key kept, so large emails cannot grow the heap without bound either. */
  maxChars: number;
}

export interface ReceivedStore {
  /** The item accepted earlier under this channel's Idempotency-Key, if still kept. */
  find(channel: Channel, idempotencyKey: string): ReceivedItem | undefined;
  /** Records `item`; answers the items dropped to stay within the limits, oldest first. */
  add(item: ReceivedItem): ReceivedItem[];
  /** Kept items in arrival order, filtered by recipient and channel when given. */
  list(filter: { recipient?: string; channel?: Channel }): ReceivedItem[];
  /** Forgets every item and idempotency key; answers how many items there were. */
  clear(): number;
  readonly size: number;
}

const sizeOf = (item: ReceivedItem) => item.to.length + item.text.length + (item.subject?.length ?? 0) + item.idempotencyKey.length;

/**
 * Received items and idempotency keys in one Map: a key is remembered exactly as long
 * as the item it produced, and Map iteration order is arrival order, so dropping the
 * oldest is O(1).
 */
export function createReceivedStore(limits: StoreLimits): ReceivedStore {
  const items = new Map<string, ReceivedItem>();
  let chars = 0;
  const keyOf = (channel: Channel, idempotencyKey: string) => `${channel}\n${idempotencyKey}`;

  return {
    find: (channel, idempotencyKey) => items.get(keyOf(channel, idempotencyKey)),
    add(item) {
      items.set(keyOf(item.channel, item.idempotencyKey), item);
      chars += sizeOf(item);
      const dropped: ReceivedItem[] = [];
      while (items.size > limits.maxItems || (chars > limits.maxChars && items.size > 1)) {
        const [key, oldest] = items.entries().next().value!;
        items.delete(key);
        chars -= sizeOf(oldest);
        dropped.push(oldest);
      }
      return dropped;
    },
    list({ recipient, channel }) {
      const all = [...items.values()];
      return recipient === undefined && channel === undefined
        ? all
        : all.filter((item) => (recipient === undefined || item.to === recipient) && (channel === undefined || item.channel === channel));
    },
    clear() {
      const count = items.size;
      items.clear();
      chars = 0;
      return count;
    },
    get size() {
      return items.size;
    },
  };
}
