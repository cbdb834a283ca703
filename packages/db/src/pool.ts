import { userInfo } from 'node:os';
import pg from 'pg';
import { timeStatements, type StatementObserver } from './statement-timing.ts';

export interface PoolOptions {
  max: number;
  applicationName: string;
  statementTimeoutMs?: number;
  /** Told the name and time of every statement (esh3ar_db_statement_duration_seconds, slow-statement logs). */
  onStatement?: StatementObserver;
  /**
   * Told when a connection dies (PostgreSQL restarted, crashed, or reset it), idle in the
   * pool or checked out. Informational: the pool replaces the connection, and whatever
   * ran on it rejects with the same error for its caller to handle. Unset: not reported.
   */
  onConnectionError?: (error: Error, state: 'idle' | 'checked out') => void;
}

/** Like libpq: a URL without a user name connects as the operating-system user. */
export function withDefaultUser(url: string): string {
  const parsed = new URL(url);
  if (parsed.username !== '') return url;
  parsed.username = userInfo().username;
  return parsed.toString();
}

export function createPool(url: string, options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: withDefaultUser(url),
    max: options.max,
    application_name: options.applicationName,
    // Fail fast while PostgreSQL is down: callers retry with backoff, not a hung socket.
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    ...(options.statementTimeoutMs === undefined ? {} : { statement_timeout: options.statementTimeoutMs }),
  });
  if (options.onStatement) timeStatements(pool, options.onStatement);
  // pg emits 'error' on a client whose connection dies, and pg-pool listens only while
  // the client is idle. A client checked out (mid-query, mid-transaction, mid-COPY, or
  // between two statements) had nobody listening, so a PostgreSQL crash under load was
  // an uncaught exception that stopped the process. Its query rejects on its own, and
  // release() drops a client that is no longer queryable.
  const checkedOut = new WeakSet<pg.PoolClient>();
  pool.on('acquire', (client) => checkedOut.add(client));
  pool.on('release', (_error, client) => checkedOut.delete(client));
  pool.on('connect', (client) => {
    client.on('error', (error) => {
      if (checkedOut.has(client)) options.onConnectionError?.(error, 'checked out');
    });
  });
  pool.on('error', (error) => options.onConnectionError?.(error, 'idle'));
  return pool;
}

/** SQLSTATEs that mean "try again later": the server or the connection, not the data. */
export function isTransientPgError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return true; // socket errors, timeouts, ECONNREFUSED
  if (code.startsWith('E')) return true; // Node's ECONNRESET, ECONNREFUSED, ...
  return ['08', '53', '57', '58', '40'].some((cls) => code.startsWith(cls)) || code === '55P03';
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity): the row itself is refused. */
export function isDataPgError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}
