import { PRIORITY_BY_RANK, type BufferedMessage, type Channel } from '@esh3ar/contracts';

/** The columns of a stored message that rebuild it as it was buffered. */
export interface StoredMessageRow {
  id: string;
  tenant_id: string;
  recipient: string;
  channel: Channel;
  priority: number;
  subject: string | null;
  content: string;
  metadata: Record<string, string> | null;
  ttl_seconds: number | null;
  fallback: string | null;
  fallback_after_seconds: number | null;
  created_at: Date;
}

/**
 * A stored message as it was buffered (acceptedAt its created_at), for what goes through
 * the dispatch again: a DLQ replay, the release of a scheduled message.
 */
export function bufferedFromRow(
  r: StoredMessageRow,
  extra: Pick<BufferedMessage, 'idempotencyKey'> & { sendAt?: string },
): BufferedMessage {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    acceptedAt: r.created_at.toISOString(),
    recipient: r.recipient,
    channel: r.channel,
    priority: PRIORITY_BY_RANK[r.priority] ?? 'normal',
    subject: r.subject,
    content: r.content,
    metadata: r.metadata,
    ttlSeconds: r.ttl_seconds,
    fallback: r.fallback,
    fallbackAfterSeconds: r.fallback_after_seconds,
    ...extra,
  };
}
