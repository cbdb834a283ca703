import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, fullJitter } from './backoff.ts';

describe('fullJitter', () => {
  it('waits anywhere from 0 to min(maxMs, initialMs × 2^failures), never more', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (failures, initialMs, maxMs, draw) => {
          const delay = fullJitter(failures, { initialMs, maxMs }, () => draw);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThan(Math.max(1, Math.min(maxMs, initialMs * 2 ** failures)));
        },
      ),
    );
  });

  it('doubles its ceiling with each failure up to the maximum', () => {
    const ceilings = [0, 1, 2, 3, 4, 5, 6].map((failures) => fullJitter(failures, DEFAULT_BACKOFF, () => 0.999_999) + 1);
    expect(ceilings).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  });
});
