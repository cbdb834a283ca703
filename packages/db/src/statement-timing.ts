import type pg from 'pg';
import { statementName } from './sql-files.ts';

/** Called after each statement with its name (statementName), its time and whether PostgreSQL refused it. */
export type StatementObserver = (statement: string, seconds: number, failed: boolean) => void;

type QueryArgs = [config: unknown, values?: unknown, callback?: unknown];
type Callback = (error: Error | undefined, result: unknown) => void;

/** A statement's text; null for what is not timed here (a streaming query such as COPY, which has submit()). */
function textOf(config: unknown): string | null {
  if (typeof config === 'string') return config;
  if (typeof config !== 'object' || config === null || typeof (config as { submit?: unknown }).submit === 'function') return null;
  const { text } = config as { text?: unknown };
  return typeof text === 'string' ? text : null;
}

/**
 * Times every statement a pooled connection runs, by wrapping that connection's
 * query() when the pool opens it: pool.query and checked-out clients alike, so no
 * caller has to remember. A streaming query (COPY, which has submit()) is passed
 * through: the COPY writer has its own histogram. The time is from the call to the
 * answer on that connection; waiting for a free connection is not in it.
 */
export function timeStatements(pool: pg.Pool, observe: StatementObserver): void {
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: QueryArgs) => unknown;
    const timed = (...[config, values, callback]: QueryArgs): unknown => {
      const text = textOf(config);
      if (text === null) return query(config, values, callback);
      const name = statementName(text);
      const started = performance.now();
      const done = (failed: boolean) => observe(name, (performance.now() - started) / 1000, failed);
      if (typeof values === 'function' || typeof callback === 'function') {
        const given = (typeof values === 'function' ? values : callback) as Callback;
        const answered: Callback = (error, result) => {
          done(error != null);
          given(error, result);
        };
        return typeof values === 'function' ? query(config, answered) : query(config, values, answered);
      }
      const result = query(config, values) as Promise<unknown>;
      // A branch of its own: the caller still gets (and handles) the original rejection.
      void result.then(
        () => done(false),
        () => done(true),
      );
      return result;
    };
    client.query = timed as typeof client.query;
  });
}
