import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inFlightLimit } from './in-flight.ts';

describe('inFlightLimit', () => {
  it('never lets more than its capacity be in flight, serves waiters in order, and each as soon as its minimum is free', async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('acquire' as const), min: fc.integer({ min: 1, max: 12 }), extra: fc.integer({ min: 0, max: 12 }) }),
      fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 10 }), fc.array(op, { maxLength: 80 }), async (capacity, ops) => {
        const slots = inFlightLimit(capacity);
        const held: number[] = [];
        const served: number[] = [];
        let asked = 0;
        for (const o of ops) {
          if (o.kind === 'acquire') {
            const n = asked++;
            void slots.acquire(o.min, o.min + o.extra).then((taken) => {
              expect(taken).toBeGreaterThanOrEqual(Math.min(o.min, capacity));
              expect(taken).toBeLessThanOrEqual(Math.max(Math.min(o.min, capacity), o.min + o.extra));
              served.push(n);
              held.push(taken);
            });
          } else if (held.length > 0) {
            slots.release(held.splice(o.pick % held.length, 1)[0]!);
          }
          await Promise.resolve(); // let the acquisitions that were served record themselves
          await Promise.resolve();
          expect(slots.busy).toBeLessThanOrEqual(capacity);
          expect(held.reduce((a, b) => a + b, 0)).toBe(slots.busy);
        }
        expect(served).toEqual([...served].sort((a, b) => a - b));
      }),
    );
  });

  it('takes what is free up to the maximum, and makes a large request wait rather than be overtaken', async () => {
    const slots = inFlightLimit(10);
    expect(await slots.acquire(4, 8)).toBe(8);
    const big = slots.acquire(5, 5);
    const small = slots.acquire(1, 1);
    const order: string[] = [];
    void big.then(() => order.push('big'));
    void small.then(() => order.push('small'));
    await Promise.resolve();
    expect(order).toEqual([]); // 2 free: the first waiter needs 5, and the second waits behind it
    slots.release(4);
    expect([await big, await small]).toEqual([5, 1]);
    expect(order).toEqual(['big', 'small']);
    expect(slots.busy).toBe(10);
  });
});
