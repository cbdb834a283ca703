import type { BufferedMessage } from '@esh3ar/contracts';
import { dueAt, PRIORITY_RANK } from '@esh3ar/contracts';

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
  'send_at',
  'held_reason',
] as const;

export interface RowState {
  /** scheduled: stored to go out at `sendAt` (packages/db's migration 0014); canceled: taken back while queued (cancel.ts). */
  status: 'pending' | 'scheduled' | 'failed' | 'canceled';
  failureReason: string | null;
  /** For scheduled rows: when it goes out (its sendAt, or the end of quiet hours). */
  sendAt?: string | null;
  /** For rows held past their own sendAt: why, in words (quiet hours). */
  heldReason?: string | null;
}

/**
 * When the TTL runs out: it counts from when the message is due to go out (its sendAt),
 * not from its acceptance, so a message scheduled for next week keeps its whole TTL.
 */
export function expiresAt(m: Pick<BufferedMessage, 'acceptedAt' | 'ttlSeconds' | 'sendAt'>): string | null {
  return m.ttlSeconds === null ? null : new Date(dueAt(m) + m.ttlSeconds * 1000).toISOString();
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
    state.sendAt ?? null,
    state.heldReason ?? null,
  ];
}

const STATUS = COPY_COLUMNS.indexOf('status');

/** The parameters of park-message.sql: a row's values without its status, which that statement sets to dead_letter. */
export function deadLetterValues(m: BufferedMessage, reason: string): (string | number | null)[] {
  return messageRowValues(m, { status: 'failed', failureReason: reason })
    .slice(0, COPY_COLUMNS.indexOf('send_at'))
    .filter((_, i) => i !== STATUS);
}

export function messageCopyRow(m: BufferedMessage, state: RowState): string {
  return messageRowValues(m, state).map(copyField).join('\t') + '\n';
}
