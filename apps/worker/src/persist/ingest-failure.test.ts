import { UnrecoverableError } from 'bullmq';
import { ReplyError } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ingestFailureKind, ingestRetry, type IngestFailureKind } from './ingest-failure.ts';

/** An error as pg reports a server's refusal: a DatabaseError carrying the SQLSTATE. */
function pgError(code: string, message = `server says ${code}`): Error {
  const error = new pg.DatabaseError(message, message.length, 'error');
  error.code = code;
  return error;
}

/** An error as Node reports a socket's failure. */
function systemError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, errno: -111, syscall: 'connect' });
}

describe('ingestFailureKind', () => {
  it.each([
    ['connection refused', systemError('ECONNREFUSED')],
    ['connection reset', systemError('ECONNRESET')],
    ['timed out', systemError('ETIMEDOUT')],
    ['broken pipe', systemError('EPIPE')],
    ['DNS not answering', systemError('EAI_AGAIN')],
    [
      'both address families refused',
      Object.assign(new AggregateError([systemError('ECONNREFUSED')], 'connect failed'), { code: 'ECONNREFUSED' }),
    ],
    ['socket closed under a COPY', Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })],
    ['pg lost its connection', new Error('Connection terminated unexpectedly')],
    ['pg pool connect timeout', new Error('timeout exceeded when trying to connect')],
    ['ioredis lost its connection', new Error('Connection is closed.')],
    ['admin shutdown (57P01)', pgError('57P01')],
    ['statement timeout (57014)', pgError('57014')],
    ['connection failure (08006)', pgError('08006')],
    ['too many connections (53300)', pgError('53300')],
    ['disk full (53100)', pgError('53100')],
    ['serialization failure (40001)', pgError('40001')],
    ['deadlock (40P01)', pgError('40P01')],
    ['lock not available (55P03)', pgError('55P03')],
    ['I/O error (58030)', pgError('58030')],
    ['password rotated (28P01)', pgError('28P01')],
    ['database missing (3D000)', pgError('3D000')],
    ['Redis loading its data', new ReplyError('LOADING Redis is loading the dataset in memory')],
    ['Redis replica during failover', new ReplyError("READONLY You can't write against a read only replica.")],
    ['Redis out of memory', new ReplyError("OOM command not allowed when used memory > 'maxmemory'.")],
    ['Redis busy with a script', new ReplyError('BUSY Redis is busy running a script.')],
    [
      'ioredis gave up on a request',
      Object.assign(new Error('Reached the max retries per request limit'), { name: 'MaxRetriesPerRequestError' }),
    ],
  ])('unavailable, retried without limit: %s', (_, error) => {
    expect(ingestFailureKind(error)).toBe('unavailable');
  });

  it.each([
    ['NUL in text (22021)', pgError('22021')],
    ['not a UUID (22P02)', pgError('22P02')],
    ['out of range (22003)', pgError('22003')],
    ['bad Unicode escape in jsonb (22P05)', pgError('22P05')],
    ['unique violation (23505)', pgError('23505')],
    ['check violation (23514)', pgError('23514')],
    ['index row too large (54000)', pgError('54000')],
  ])('refused, retried up to worker.maxAttempts: %s', (_, error) => {
    expect(ingestFailureKind(error)).toBe('refused');
  });

  it.each([
    ['undefined table (42P01)', pgError('42P01')],
    ['undefined column (42703)', pgError('42703')],
    ['raised by a trigger (P0001)', pgError('P0001')],
    ['internal error (XX000)', pgError('XX000')],
    ['feature not supported (0A000)', pgError('0A000')],
    ['statement too complex (54001)', pgError('54001')],
    ['in a failed transaction (25P02)', pgError('25P02')],
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['a RangeError', new RangeError('Invalid time value')],
    [
      'a Node argument error',
      Object.assign(new TypeError('The "chunk" argument must be of type string'), { code: 'ERR_INVALID_ARG_TYPE' }),
    ],
    ['an abort', Object.assign(new Error('The operation was aborted'), { code: 'ABORT_ERR' })],
    ['a Redis command error', new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value')],
    ['a missing Redis script', new ReplyError('NOSCRIPT No matching script.')],
    ['an UnrecoverableError', new UnrecoverableError('given up')],
    ['a thrown string', 'boom'],
    ['a thrown undefined', undefined],
    ['a thrown null', null],
  ])('fault, retried up to worker.maxAttempts: %s', (_, error) => {
    expect(ingestFailureKind(error)).toBe('fault');
  });
});

describe('ingestRetry', () => {
  const kinds: IngestFailureKind[] = ['unavailable', 'refused', 'fault'];

  it('retries an unavailable PostgreSQL or Redis however many attempts it took', () => {
    for (const attempt of [1, 8, 9, 1000, 1_000_000]) expect(ingestRetry('unavailable', attempt, 8)).toBe('retry');
  });

  it('gives up on anything else at the maxAttempts-th attempt, not before', () => {
    for (const kind of kinds.filter((k) => k !== 'unavailable')) {
      expect([1, 2, 7].map((attempt) => ingestRetry(kind, attempt, 8))).toEqual(['retry', 'retry', 'retry']);
      expect([8, 9, 50].map((attempt) => ingestRetry(kind, attempt, 8))).toEqual(['give-up', 'give-up', 'give-up']);
      expect(ingestRetry(kind, 1, 1)).toBe('give-up');
    }
  });
});
