import type { Logger } from 'pino';
import { Histogram, type Registry } from 'prom-client';

// From sub-millisecond index lookups to the COPY merge of a 1000-row batch (~10 ms) and
// statements stuck behind a lock; 0.5 s is where the slow-statement alert starts.
const STATEMENT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface StatementOptions {
  /** Statements taking at least this long are logged (name and duration, never parameters); 0 logs every one. */
  slowMs: number;
}

/**
 * esh3ar_db_statement_duration_seconds{statement}, by statement name (the SQL file's, or
 * the verb of an inline statement: a bounded set), and a warning per slow statement. The
 * returned function is what @esh3ar/db's createPool calls after each statement.
 */
export function createStatementObserver(registry: Registry, logger: Logger, options: StatementOptions) {
  const duration = new Histogram({
    name: 'esh3ar_db_statement_duration_seconds',
    help: 'PostgreSQL statement time from send to answer, by statement name (sql/*.sql file, or the verb of an inline statement)',
    labelNames: ['statement'] as const,
    buckets: STATEMENT_BUCKETS,
    registers: [registry],
  });
  return (statement: string, seconds: number, failed: boolean): void => {
    duration.observe({ statement }, seconds);
    if (seconds * 1000 >= options.slowMs) logger.warn({ statement, durationMs: Math.round(seconds * 1e4) / 10, failed }, 'slow statement');
  };
}
