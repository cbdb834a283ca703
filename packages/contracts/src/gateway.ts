import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';

/** server → device: one message (the README's Gateway protocol). */
export interface MessageFrame {
  type: 'message';
  id: string;
  tenant: string;
  subject: string | null;
  content: string;
  priority: string;
  createdAt: string;
  metadata: Record<string, string> | null;
}

/** server → device, on a frame it could not use; the connection stays open. */
export interface ErrorFrame {
  type: 'error';
  code: FrameErrorCode;
  message: string;
}

export const FRAME_ERROR_CODES = ['INVALID_FRAME', 'UNKNOWN_TYPE', 'INVALID_ACK', 'UNKNOWN_MESSAGE'] as const;
export type FrameErrorCode = (typeof FRAME_ERROR_CODES)[number];

const MessageId = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' });

/** device → server: `{"type":"ack","id"}` or `{"type":"ack","ids":[…]}` (at most 1000). */
export const AckFrame = Type.Union([
  Type.Object({ type: Type.Literal('ack'), id: MessageId }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('ack'), ids: Type.Array(MessageId, { minItems: 1, maxItems: 1000 }) }, { additionalProperties: false }),
]);
export type AckFrame = Static<typeof AckFrame>;
export const checkAckFrame = Compile(AckFrame);

/** What a worker hands a gateway for one message to push (routed per gateway instance). */
export interface DeliveryItem {
  id: string;
  tenantId: string;
  recipient: string;
  subject: string | null;
  content: string;
  priority: string;
  createdAt: string;
  metadata: Record<string, string> | null;
  expiresAt: string | null;
}

export function toMessageFrame(item: DeliveryItem): MessageFrame {
  return {
    type: 'message',
    id: item.id,
    tenant: item.tenantId,
    subject: item.subject,
    content: item.content,
    priority: item.priority,
    createdAt: item.createdAt,
    metadata: item.metadata,
  };
}
