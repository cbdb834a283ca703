import { isRowRefusal, isTransientPgError } from '@esh3ar/db';

/**
 * Why an attempt of an ingest job failed:
 * - `unavailable`: PostgreSQL or Redis is unreachable, restarting, overloaded, failing over,
 *   or refuses the connection itself. Nothing in the job is the cause; it is retried until
 *   they are back, however long that takes (a 202 is a promise).
 * - `refused`: PostgreSQL refused data that the writer could not store any other way (it
 *   stores refused rows as `failed` or as dead letters, so this is rare).
 * - `fault`: anything else — a bug, a schema that does not match the code, a row that trips
 *   a trigger. It may well be the job's own content, so it must not be retried forever.
 */
export type IngestFailureKind = 'unavailable' | 'refused' | 'fault';

/** SQLSTATE classes besides isTransientPgError's that refuse the connection rather than the job: 28 authentication, 3D no such database. */
const CONNECTION_REFUSED = ['28', '3D'];

/** Node stream codes for a socket that closed under a COPY (the server went away mid-batch). */
const STREAM_CLOSED = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'ERR_SOCKET_CLOSED']);

/** Redis replies that mean "not now": loading its data, busy with a script, a replica or failover, out of memory. */
const REDIS_BUSY = /^(LOADING|BUSY|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|OOM|MISCONF|NOREPLICAS)\b/;

/** Errors the JavaScript engine throws: a bug, whatever the message. */
const ENGINE_ERRORS: readonly (new () => Error)[] = [TypeError, RangeError, ReferenceError, SyntaxError, EvalError, URIError];

export function ingestFailureKind(error: unknown): IngestFailureKind {
  if (!(error instanceof Error)) return 'fault'; // a thrown string or undefined: a bug
  if (isRowRefusal(error)) return 'refused';
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    // Node's own errors (ERR_INVALID_ARG_TYPE, ...) are bugs, but for a stream closed under us.
    if (code.startsWith('ERR_')) return STREAM_CLOSED.has(code) ? 'unavailable' : 'fault';
    // Node's system errors: ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE, EAI_AGAIN, ...
    if (/^E[A-Z_]+$/.test(code)) return 'unavailable';
    if (/^[0-9A-Z]{5}$/.test(code))
      return isTransientPgError(error) || CONNECTION_REFUSED.includes(code.slice(0, 2)) ? 'unavailable' : 'fault';
    return 'fault';
  }
  if (error.name === 'ReplyError') return REDIS_BUSY.test(error.message) ? 'unavailable' : 'fault';
  if (error.name === 'MaxRetriesPerRequestError') return 'unavailable';
  if (error.name === 'UnrecoverableError' || ENGINE_ERRORS.some((type) => error.constructor === type)) return 'fault';
  // A plain Error without a code is how pg and ioredis report a lost connection:
  // "Connection terminated unexpectedly", "timeout exceeded when trying to connect",
  // "Connection is closed.".
  return 'unavailable';
}

/**
 * Retry or give up. `attempt` counts from 1. Giving up parks the job's messages as dead
 * letters: at worker.maxAttempts 8 and the default WORKER_RETRY_BASE_MS 250, the seven
 * backoffs before it add up to 16-32 s, so a poison job holds its messages about half a minute.
 */
export function ingestRetry(kind: IngestFailureKind, attempt: number, maxAttempts: number): 'retry' | 'give-up' {
  switch (kind) {
    case 'unavailable':
      return 'retry';
    case 'refused':
    case 'fault':
      return attempt < maxAttempts ? 'retry' : 'give-up';
  }
}
