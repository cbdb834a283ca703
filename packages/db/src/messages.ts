import { PRIORITY_BY_RANK, smsCostOf, type MessageEvent, type MessageSummary, type MessageView } from '@esh3ar/contracts';
import type pg from 'pg';
import { sql } from './sql-files.ts';

interface MessageRow {
  id: string;
  status: string;
  recipient: string;
  channel: string;
  priority: number;
  subject: string | null;
  content: string;
  metadata: Record<string, string> | null;
  attempts: number;
  created_at: Date;
  updated_at: Date;
  delivered_at: Date | null;
  failure_reason: string | null;
  send_at: Date | null;
  held_reason: string | null;
}

type EventRow = { status: string; at: Date; detail: string | null };

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

function toSummary(row: MessageRow): MessageSummary {
  return {
    id: row.id,
    status: row.status,
    recipient: row.recipient,
    channel: row.channel,
    priority: PRIORITY_BY_RANK[row.priority] ?? 'normal',
    subject: row.subject,
    content: row.content,
    metadata: row.metadata,
    attempts: row.attempts,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    deliveredAt: iso(row.delivered_at),
    failureReason: row.failure_reason,
    sms: smsCostOf(row.channel, row.content),
    sendAt: iso(row.send_at),
    heldReason: row.held_reason,
  };
}

/**
 * The event of the row's storage, which no event row records: `pending`, or `scheduled` for a
 * row stored with a send time (a hold at release, pending → scheduled, writes an event row of
 * its own), or `failed` for a row stored as failed; none for a message canceled while queued,
 * whose row and `canceled` event were written by one statement (the same now()).
 */
function storageEvent(row: MessageRow & { stored_at: Date }, later: readonly EventRow[]): MessageEvent[] {
  const at = row.stored_at.toISOString();
  const [first] = later;
  if (first?.status === 'canceled' && first.at.getTime() === row.stored_at.getTime()) return [];
  if (row.status === 'failed' && later.length === 0) return [{ status: 'failed', at, detail: row.failure_reason }];
  if (row.send_at !== null && !later.some((e) => e.status === 'scheduled')) return [{ status: 'scheduled', at, detail: 'stored' }];
  return [{ status: 'pending', at, detail: 'stored' }];
}

export async function getMessage(pool: pg.Pool, tenantId: string, id: string): Promise<MessageView | null> {
  const { rows } = await pool.query<MessageRow & { stored_at: Date }>(sql('get-message'), [id, tenantId]);
  const row = rows[0];
  if (row === undefined) return null;
  const later = await pool.query<EventRow>('SELECT status, at, detail FROM message_events WHERE message_id = $1 ORDER BY id', [id]);
  // queued and the storage are not written as event rows: created_at and stored_at are them.
  const events: MessageEvent[] = [
    { status: 'queued', at: row.created_at.toISOString(), detail: null },
    ...storageEvent(row, later.rows),
    ...later.rows.map((e) => ({ status: e.status, at: e.at.toISOString(), detail: e.detail })),
  ];
  return { ...toSummary(row), events };
}

export interface ListOptions {
  status: string | null;
  limit: number;
  /** The id after which the page starts (exclusive), newest first. */
  afterId: string | null;
}

export async function listMessages(
  pool: pg.Pool,
  tenantId: string,
  options: ListOptions,
): Promise<{ items: MessageSummary[]; lastId: string | null; hasMore: boolean }> {
  // One row more than asked tells whether another page exists.
  const { rows } = await pool.query<MessageRow>(sql('list-messages'), [tenantId, options.status, options.afterId, options.limit + 1]);
  const hasMore = rows.length > options.limit;
  const page = hasMore ? rows.slice(0, options.limit) : rows;
  return { items: page.map(toSummary), lastId: page.at(-1)?.id ?? null, hasMore };
}
