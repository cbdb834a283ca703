/**
 * Group commit, as Esh3ar's enqueuer and worker do it: with no write in flight, the items of
 * one event-loop tick are written at once; while one is in flight, what arrives gathers
 * and is written as soon as it ends. Each caller's promise settles with its item's write.
 */
export function groupCommit<T>(write: (items: T[]) => Promise<unknown>): (item: T) => Promise<void> {
  let waiting: { item: T; done: (error: Error | null) => void }[] = [];
  let inFlight = false;
  let scheduled = false;

  function flush(): void {
    scheduled = false;
    if (inFlight || waiting.length === 0) return;
    const batch = waiting;
    waiting = [];
    inFlight = true;
    // A write that throws rather than rejects fails its batch as a rejection would.
    Promise.resolve()
      .then(() => write(batch.map((w) => w.item)))
      .then(
        () => batch.forEach((w) => w.done(null)),
        (error: unknown) => batch.forEach((w) => w.done(error as Error)),
      )
      .finally(() => {
        inFlight = false;
        flush();
      });
  }

  return (item) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ item, done: (error) => (error ? reject(error) : resolve()) });
      if (!scheduled && !inFlight) {
        scheduled = true;
        setImmediate(flush);
      }
    });
}
