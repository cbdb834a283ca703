import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BAD_FRAME_WINDOW_MS, takeBadFrame } from './frame-budget.ts';

describe('takeBadFrame', () => {
  it('answers the first max bad frames of a window, refuses the next, and starts again once the window has passed', () => {
    const count = { badFrames: 0, badFramesSince: 0 };
    const t0 = 1_000_000;
    expect(Array.from({ length: 4 }, (_, i) => takeBadFrame(count, 3, t0 + i))).toEqual([true, true, true, false]);
    expect(takeBadFrame(count, 3, t0 + BAD_FRAME_WINDOW_MS - 1)).toBe(false);
    expect(takeBadFrame(count, 3, t0 + BAD_FRAME_WINDOW_MS)).toBe(true);
  });

  it('never answers more than 2 × max bad frames in any 10 s, whatever their times', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.integer({ min: 0, max: 60_000 }), { maxLength: 300 }), (max, offsets) => {
        const times = offsets.sort((a, b) => a - b).map((t) => 1_000_000 + t);
        const count = { badFrames: 0, badFramesSince: 0 };
        const answered = times.filter((t) => takeBadFrame(count, max, t));
        for (const start of answered)
          expect(answered.filter((t) => t >= start && t < start + BAD_FRAME_WINDOW_MS).length).toBeLessThanOrEqual(2 * max);
      }),
    );
  });
});
