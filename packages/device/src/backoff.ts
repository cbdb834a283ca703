/** How long to wait between connection attempts. */
export interface Backoff {
  /** The ceiling of the first wait after a healthy connection ends. */
  initialMs: number;
  /** The largest ceiling: however many attempts failed, the next waits at most this. */
  maxMs: number;
}

/**
 * 1 s, doubling up to 30 s. 1 s spreads the devices of a gateway that shuts down (up to
 * 40,000) over a second of upgrades on the others; 30 s is the gateway's ping interval,
 * which is also the Retry-After it gives a phone with too many connections.
 */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 1000, maxMs: 30_000 };

/**
 * The wait before attempt `failures + 1`: "full jitter", uniformly anywhere from 0 to
 * min(maxMs, initialMs × 2^failures). Every device that lost the same gateway draws its
 * own delay, so they come back spread out instead of all at once, every time.
 */
export function fullJitter(failures: number, backoff: Backoff, random: () => number = Math.random): number {
  // 2^30 × 1 ms is already 12 days: past it, the exponent only risks Infinity.
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(failures, 30));
  return Math.floor(random() * ceiling);
}
