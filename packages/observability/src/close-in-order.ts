import type { Logger } from 'pino';

/** A named shutdown step; its name is what the log says when it fails. */
export type CloseStep = readonly [name: string, close: () => unknown];

/**
 * Runs the steps one after the other (intake first, the connections last). A failing step
 * is logged and the later ones still run: a webhook dispatcher that fails to stop must not
 * leave the pool and Redis open. Rejects at the end, naming the failed steps, so that the
 * process still exits non-zero.
 */
export async function closeInOrder(logger: Logger, steps: readonly CloseStep[]): Promise<void> {
  const failed: { name: string; error: unknown }[] = [];
  for (const [name, close] of steps) {
    try {
      await close();
    } catch (error) {
      logger.error({ err: error, step: name }, 'shutdown step failed; closing the rest');
      failed.push({ name, error });
    }
  }
  if (failed.length > 0) {
    throw new AggregateError(
      failed.map((f) => f.error),
      `shutdown steps failed: ${failed.map((f) => f.name).join(', ')}`,
    );
  }
}
