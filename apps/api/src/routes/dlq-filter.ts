import { PROVIDER_CHANNELS, STORABLE_TEXT_PATTERN, UUID_PATTERN, type ErrorCode } from '@esh3ar/contracts';
import type { DeadLetter, DlqFilter } from '@esh3ar/db';
import { Type, type Static } from 'typebox';
import { apiError } from '../errors.ts';
import { adminErrorResponses, ANSWERED_AS_BUILT, INPUT_CHECKED_BY_HANDLER, SECURITY } from '../route-docs.ts';

// What the dead-letter routes share: the filter (GET /v1/admin/dlq's query, the replay's
// "filter"), how it reaches @esh3ar/db, and their documentation.

export const Filter = Type.Object(
  {
    tenant: Type.Optional(Type.String({ pattern: UUID_PATTERN })),
    channel: Type.Optional(Type.Union(PROVIDER_CHANNELS.map((c) => Type.Literal(c)))),
    error: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, pattern: STORABLE_TEXT_PATTERN, description: 'in the failure reason, any case' }),
    ),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'dead-lettered at or after' })),
    until: Type.Optional(Type.String({ format: 'date-time', description: 'dead-lettered before' })),
  },
  { additionalProperties: false },
);
export type Filter = Static<typeof Filter>;

export const EXAMPLE_DEAD_LETTER: DeadLetter = {
  id: '01948a3e-5b7c-7d2e-9f10-3a4b5c6d7e8f',
  tenantId: '01948a3e-1f2a-7b3c-8d4e-5f6a7b8c9d0e',
  recipient: '+966501234567',
  channel: 'sms',
  priority: 'high',
  failureReason: 'twilio error 21610',
  attempts: 5,
  movedToDlqAt: '2025-01-31T09:41:12.000Z',
  createdAt: '2025-01-31T09:30:00.000Z',
};

export function invalid(what: string, path = '/'): never {
  throw apiError('VALIDATION_FAILED', what, [{ path, message: what }]);
}

/**
 * A time in UTC, as PostgreSQL takes it, or null: RFC 3339 allows offsets up to ±23:59 and
 * the year 0000, PostgreSQL refuses offsets past ±15:59 and has no year 0, and the statement
 * would fail (a 503) on what is the caller's mistake.
 */
export function postgresTime(value: string): string | null {
  const at = new Date(value);
  const year = at.getUTCFullYear();
  return Number.isNaN(at.getTime()) || year < 1 || year > 9999 ? null : at.toISOString();
}

/** A date-time the schema took, in UTC as PostgreSQL takes it, or VALIDATION_FAILED naming the field at `path`. */
export function utcTime(value: string, path: string): string {
  return (
    postgresTime(value) ??
    invalid(`"${path.slice(1).replaceAll('/', '.')}" must be a date and time from the year 1 to 9999, such as 2025-01-31T09:30:00Z`, path)
  );
}

/** The checked filter as @esh3ar/db takes it; `at` is where it sits in the request ("" or "/filter"). */
export function toDbFilter(f: Filter, at: string): DlqFilter {
  const since = f.since === undefined ? null : utcTime(f.since, `${at}/since`);
  const until = f.until === undefined ? null : utcTime(f.until, `${at}/until`);
  if (since !== null && until !== null && since >= until) {
    const name = (field: string) => JSON.stringify(`${at}/${field}`.slice(1).replaceAll('/', '.'));
    invalid(`${name('since')} must be before ${name('until')}`, `${at}/since`);
  }
  return { tenantId: f.tenant ?? null, channel: f.channel ?? null, error: f.error ?? null, since, until };
}

/** Both routes check their own input (TypeBox, in words) and answer rows of @esh3ar/db. */
export function documented(schema: Record<string, unknown>, success: Record<number, unknown>, errors: ErrorCode[]) {
  return {
    ...INPUT_CHECKED_BY_HANDLER,
    ...ANSWERED_AS_BUILT,
    schema: {
      tags: ['admin: dead letters'],
      security: SECURITY.adminToken,
      ...schema,
      response: { ...success, ...adminErrorResponses(errors) },
    },
  };
}
