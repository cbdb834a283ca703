import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { StringMap } from './message.ts';
import { UUID_PATTERN } from './uuid.ts';

// The frames of the devices' WebSocket (docs/gateway-protocol.md, whose examples are
// checked against these schemas, and docs/gateway-protocol.asyncapi.json, generated
// from them by scripts/gateway-protocol.ts).

const MessageId = Type.String({ pattern: UUID_PATTERN, description: 'The message id (a UUID), the one the api answered with.' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

/** server → device: one message; the same id may come again (at-least-once). */
export const MessageFrame = Type.Object(
  {
    type: Type.Literal('message'),
    id: MessageId,
    tenant: Type.String({ description: 'The tenant (a UUID) that sent it.' }),
    subject: Nullable(Type.String()),
    content: Type.String(),
    priority: Type.String({ description: 'low, normal, high or critical.' }),
    createdAt: Type.String({ description: 'When the api accepted it (ISO 8601, UTC).' }),
    metadata: Nullable(StringMap),
  },
  { additionalProperties: false },
);
export type MessageFrame = Static<typeof MessageFrame>;

/**
 * server → device, once per connection: everything the connection's first replay from
 * PostgreSQL found has been pushed before it; what follows is live (or re-pushed).
 */
export const ReplayedFrame = Type.Object({ type: Type.Literal('replayed') }, { additionalProperties: false });
export type ReplayedFrame = Static<typeof ReplayedFrame>;

/**
 * server → device, with each WebSocket ping: browsers answer pings without telling the
 * page, so this is what a client can watch to tell a dead connection from a quiet one.
 */
export const HeartbeatFrame = Type.Object(
  {
    type: Type.Literal('heartbeat'),
    intervalMs: Type.Integer({ minimum: 1, description: 'The ping interval: the next heartbeat comes within 1.5 × this.' }),
  },
  { additionalProperties: false },
);
export type HeartbeatFrame = Static<typeof HeartbeatFrame>;

export const FRAME_ERROR_CODES = ['INVALID_FRAME', 'UNKNOWN_TYPE', 'INVALID_ACK', 'UNKNOWN_MESSAGE'] as const;
export type FrameErrorCode = (typeof FRAME_ERROR_CODES)[number];

/** server → device, on a frame it could not use; the connection stays open. */
export const ErrorFrame = Type.Object(
  {
    type: Type.Literal('error'),
    code: Type.Enum(FRAME_ERROR_CODES),
    message: Type.String(),
  },
  { additionalProperties: false },
);
export type ErrorFrame = Static<typeof ErrorFrame>;

/** Every frame the gateway sends. */
export const ServerFrame = Type.Union([MessageFrame, ReplayedFrame, HeartbeatFrame, ErrorFrame]);
export type ServerFrame = Static<typeof ServerFrame>;
export const checkServerFrame = Compile(ServerFrame);

/** device → server: `{"type":"ack","id"}` or `{"type":"ack","ids":[…]}` (at most 1000). */
export const AckFrame = Type.Union([
  Type.Object({ type: Type.Literal('ack'), id: MessageId }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('ack'), ids: Type.Array(MessageId, { minItems: 1, maxItems: 1000 }) }, { additionalProperties: false }),
]);
export type AckFrame = Static<typeof AckFrame>;
export const checkAckFrame = Compile(AckFrame);

/** What a device should do on each close code the gateway sends. */
export type CloseAction = 'reconnect' | 'back off' | 'stop';

/** The close codes the gateway sends, why, and what a device should do. */
export const GATEWAY_CLOSE_CODES: Readonly<Record<number, { reason: string; device: CloseAction }>> = {
  1001: { reason: 'the gateway is shutting down', device: 'reconnect' },
  1008: { reason: 'more than GATEWAY_MAX_BAD_FRAMES bad frames in 10 s', device: 'stop' },
  1009: { reason: 'a frame over GATEWAY_MAX_FRAME_BYTES (64 KiB)', device: 'stop' },
  1011: { reason: 'the connection could not be registered in Redis presence', device: 'reconnect' },
  1013: { reason: 'the device did not read its pushes within GATEWAY_SLOW_READER_CLOSE_MS', device: 'back off' },
};

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
