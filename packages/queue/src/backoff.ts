/**
 * Exponential backoff with "equal jitter", capped: attempt 1 waits up to `baseMs`, each
 * further attempt doubles the ceiling until `maxMs`. Half of each delay is random: that spreads the retries
 * of many workers that failed together (one PostgreSQL restart) over the interval.
 */
export function cappedBackoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.max(1, Math.floor(ceiling / 2 + (random() * ceiling) / 2));
}
