import type { BufferedMessage, ValidMessage } from '@esh3ar/contracts';
import { createMessageIds } from './message-id.ts';

const nextMessageId = createMessageIds();

/** An accepted message gets its id (UUIDv7: time-ordered, so "newest first" is an index scan) and its time. */
export function toBufferedMessage(valid: ValidMessage, tenantId: string, idempotencyKey: string | null, now: Date): BufferedMessage {
  const message: BufferedMessage = {
    id: nextMessageId(),
    tenantId,
    acceptedAt: now.toISOString(),
    recipient: valid.recipient,
    channel: valid.channel,
    priority: valid.priority,
    subject: valid.subject,
    content: valid.content,
    metadata: valid.metadata,
    ttlSeconds: valid.ttlSeconds,
    fallback: valid.fallback,
    fallbackAfterSeconds: valid.fallbackAfterSeconds,
    idempotencyKey,
  };
  // Only when given: most messages go at once, and the buffer holds every byte of them.
  if (valid.sendAt !== null) message.sendAt = valid.sendAt;
  return message;
}
