import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Channel } from './faults.ts';
import { createReceivedStore, type ReceivedItem } from './store.ts';

let n = 0;
const item = (over: Partial<ReceivedItem> = {}): ReceivedItem => ({
  id: `sim_${++n}`,
  channel: 'sms',
  to: '+966501234567',
  text: 'hello',
  subject: null,
  idempotencyKey: `key-${n}`,
  receivedAt: new Date(0).toISOString(),
  ...over,
});

describe('createReceivedStore', () => {
  it('finds an item by its channel and Idempotency-Key only', () => {
    const store = createReceivedStore({ maxItems: 10, maxChars: 10_000 });
    const first = item({ idempotencyKey: 'k' });
    store.add(first);
    expect(store.find('sms', 'k')).toBe(first);
    expect(store.find('whatsapp', 'k')).toBeUndefined();
  });

  it('lists in arrival order, filtered by recipient and channel', () => {
    const store = createReceivedStore({ maxItems: 10, maxChars: 10_000 });
    const a = item({ to: '+15550000001' });
    const b = item({ to: '+15550000002', channel: 'whatsapp' });
    const c = item({ to: '+15550000001', channel: 'whatsapp' });
    for (const i of [a, b, c]) store.add(i);
    expect(store.list({})).toEqual([a, b, c]);
    expect(store.list({ recipient: '+15550000001' })).toEqual([a, c]);
    expect(store.list({ recipient: '+15550000001', channel: 'whatsapp' })).toEqual([c]);
  });

  it('property: keeps at most maxItems, the newest, dropping the oldest first together with their keys', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.constantFrom<Channel>('sms', 'whatsapp', 'email'), { maxLength: 60 }),
        (maxItems, channels) => {
          const store = createReceivedStore({ maxItems, maxChars: 1_000_000 });
          const added = channels.map((channel) => item({ channel }));
          const dropped = added.flatMap((i) => store.add(i));
          const kept = added.slice(Math.max(0, added.length - maxItems));
          expect(store.list({})).toEqual(kept);
          expect(dropped).toEqual(added.slice(0, added.length - kept.length));
          for (const d of dropped) expect(store.find(d.channel, d.idempotencyKey)).toBeUndefined();
        },
      ),
    );
  });

  it('drops the oldest when the characters kept pass maxChars, but always keeps the newest', () => {
    const store = createReceivedStore({ maxItems: 100, maxChars: 100 });
    const small = item({ text: 'x'.repeat(30) });
    store.add(small);
    const big = item({ text: 'y'.repeat(200) });
    expect(store.add(big)).toEqual([small]);
    expect(store.list({})).toEqual([big]);
  });

  it('clear forgets items and keys', () => {
    const store = createReceivedStore({ maxItems: 10, maxChars: 10_000 });
    store.add(item({ idempotencyKey: 'gone' }));
    expect(store.clear()).toBe(1);
    expect(store.size).toBe(0);
    expect(store.find('sms', 'gone')).toBeUndefined();
  });
});
