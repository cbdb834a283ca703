import fc from 'fast-check';
import { validate, version } from 'uuid';
import { describe, expect, it } from 'vitest';
import { createMessageIds } from './message-id.ts';

describe('message ids', () => {
  it('are valid UUIDv7, distinct and strictly increasing, whatever the clock does', () => {
    // Clock steps of -5…+3 ms: standing still, moving on, and running backwards.
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -5, max: 3 }), { minLength: 1, maxLength: 3000 }), (steps) => {
        let now = 1_760_000_000_000;
        const next = createMessageIds(() => now);
        const ids = steps.map((step) => {
          now += step;
          return next();
        });
        for (const id of ids) expect(validate(id) && version(id)).toBe(7);
        for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it('carry the time they were made, in milliseconds', () => {
    const next = createMessageIds(() => 0x0192_3456_789a);
    expect(next().replaceAll('-', '').slice(0, 12)).toBe('01923456789a');
  });

  it('draw fresh random bits past the pool size', () => {
    let now = 1_760_000_000_000;
    const next = createMessageIds(() => (now += 1));
    const tails = new Set(Array.from({ length: 1000 }, () => next().slice(-12)));
    expect(tails.size).toBe(1000);
  });
});
