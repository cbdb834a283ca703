import { isTransientPgError, migrate } from '@esh3ar/db';
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import type { Logger } from 'pino';

/**
 * Runs the migrations, waiting for PostgreSQL for as long as it does not answer (started
 * after the workers, or down): a worker that stopped instead would be restarted in a loop.
 * Several workers may start at once: the migration lock makes the others wait.
 */
export async function migrateWhenReachable(postgresUrl: string, logger: Logger): Promise<void> {
  const waitForPostgres = retry(handleWhen(isTransientPgError), { backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }) });
  waitForPostgres.onRetry(({ delay, ...reason }) =>
    logger.warn({ err: 'error' in reason ? reason.error : undefined, delayMs: delay }, 'PostgreSQL unreachable; migrations wait for it'),
  );
  await waitForPostgres.execute(() => migrate(postgresUrl, logger));
}
