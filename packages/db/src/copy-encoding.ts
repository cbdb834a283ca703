import type { BufferedMessage } from '@esh3ar/contracts';
import { PRIORITY_RANK } from '@esh3ar/contracts';

/**
 * COPY text format: a field is taken literally except for backslash, tab, newline
 * and carriage return, which must be escaped; \N is NULL. Done in one pass.
 */
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const SPECIAL = /[\\\t\n\r]/g;

export function copyField(value: string | number | null): string {
  if (value === null) return '\\N';
  if (typeof value === 'number') return String(value);
  return value.replace(SPECIAL, (ch) => ESCAPES[ch] ?? ch);
}

/** Column order of every COPY row; must match messageCopyRow. */
export const COPY_COLUMNS = [
  'id',
  'tenant_id',
  'recipient',
  'channel',
  'priority',
  'subject',
  'content',
  'metadata',
  'ttl_seconds',
  'expires_at',
  'fallback',
  'fallback_after_seconds',
  'idempotency_key',
  'status',
  'failure_reason',
  'created_at',
] as const;

export interface RowState {
  status: 'pending' | 'failed';
  failureReason: string | null;
}

export function expiresAt(m: Pick<BufferedMessage, 'acceptedAt' | 'ttlSeconds'>): string | null {
  return m.ttlSeconds === null ? null : new Date(Date.parse(m.acceptedAt) + m.ttlSeconds * 1000).toISOString();
}

/** The values of one row, in COPY_COLUMNS order (also the parameters of the row-by-row INSERT). */
export function messageRowValues(m: BufferedMessage, state: RowState): (string | number | null)[] {
  return [
    m.id,
    m.tenantId,
    m.recipient,
    m.channel,
    PRIORITY_RANK[m.priority],
    m.subject,
    m.content,
    m.metadata === null ? null : JSON.stringify(m.metadata),
    m.ttlSeconds,
    expiresAt(m),
    m.fallback,
    m.fallbackAfterSeconds,
    m.idempotencyKey,
    state.status,
    state.failureReason,
    m.acceptedAt,
  ];
}

const STATUS = COPY_COLUMNS.indexOf('status');

/** The parameters of park-message.sql: a row's values without its status, which that statement sets to dead_letter. */
export function deadLetterValues(m: BufferedMessage, reason: string): (string | number | null)[] {
  return messageRowValues(m, { status: 'failed', failureReason: reason }).filter((_, i) => i !== STATUS);
}

export function messageCopyRow(m: BufferedMessage, state: RowState): string {
  return messageRowValues(m, state).map(copyField).join('\t') + '\n';
}
