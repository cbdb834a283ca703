import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cappedBackoffMs } from './backoff.ts';

describe('cappedBackoffMs', () => {
  it('property: stays within [ceiling/2, ceiling], the ceiling doubling per attempt up to the cap', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.double({ min: 0, max: 0.999_999, noNaN: true }),
        (attempt, base, max, r) => {
          const ceiling = Math.min(max, base * 2 ** Math.min(attempt - 1, 30));
          const delay = cappedBackoffMs(attempt, base, max, () => r);
          expect(delay).toBeGreaterThanOrEqual(Math.max(1, Math.floor(ceiling / 2)));
          expect(delay).toBeLessThanOrEqual(Math.max(1, ceiling));
        },
      ),
    );
  });

  it('property: the ceiling never decreases from one attempt to the next', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), (attempt) => {
        const top = (a: number) => cappedBackoffMs(a, 250, 30_000, () => 0.999_999);
        expect(top(attempt + 1)).toBeGreaterThanOrEqual(top(attempt));
      }),
    );
  });
});
