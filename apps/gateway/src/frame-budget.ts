/** Bad frames are counted per connection in windows of 10 s, each starting at the first bad frame after the last one ended. */
export const BAD_FRAME_WINDOW_MS = 10_000;

export interface BadFrameCount {
  badFrames: number;
  badFramesSince: number;
}

/**
 * Counts one bad frame of a connection. Answers whether it is within `max` for the
 * current window (answer it with an error frame) or over it (close the connection).
 * Two numbers on the connection, not a list of times: most connections never send a
 * bad frame, and a window may let 2 × `max` through across its edge, which is as good.
 */
export function takeBadFrame(count: BadFrameCount, max: number, now: number): boolean {
  if (now - count.badFramesSince >= BAD_FRAME_WINDOW_MS) {
    count.badFramesSince = now;
    count.badFrames = 0;
  }
  return ++count.badFrames <= max;
}
