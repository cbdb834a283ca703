/**
 * What one worker holds at once, at most `capacity`, shared by its channels: its provider
 * calls in flight (sockets and memory), and the messages it has claimed and not yet called
 * back. Without it a batch job would start every call of its batch at once.
 */
export interface InFlight {
  /**
   * Waits, first come first served, until at least `min` calls may start, then takes up
   * to `max` of the free slots; resolves with how many were taken. `min` ≤ capacity.
   */
  acquire(min: number, max: number): Promise<number>;
  /** Gives back slots of calls that ended. */
  release(count: number): void;
  /** Calls in flight now. */
  readonly busy: number;
}

export function inFlightLimit(capacity: number): InFlight {
  let busy = 0;
  const waiting: { min: number; max: number; resolve: (taken: number) => void }[] = [];
  const take = (max: number) => {
    const taken = Math.min(max, capacity - busy);
    busy += taken;
    return taken;
  };
  const serve = () => {
    while (waiting.length > 0 && capacity - busy >= waiting[0]!.min) {
      const next = waiting.shift()!;
      next.resolve(take(next.max));
    }
  };
  return {
    acquire(min, max) {
      const need = Math.min(Math.max(1, min), capacity);
      if (waiting.length === 0 && capacity - busy >= need) return Promise.resolve(take(Math.max(need, max)));
      return new Promise((resolve) => waiting.push({ min: need, max: Math.max(need, max), resolve }));
    },
    release(count) {
      busy = Math.max(0, busy - count);
      serve();
    },
    get busy() {
      return busy;
    },
  };
}
