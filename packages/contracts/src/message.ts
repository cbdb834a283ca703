import { Type, type Static } from 'typebox';

export const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const CHANNELS = ['app', 'sms', 'whatsapp', 'email'] as const;
export type Channel = (typeof CHANNELS)[number];

/**
 * Lifecycle order: a status only ever moves to a later rank (terminal ones share the top),
 * but for the operator's DLQ replay, which moves a dead_letter back to pending, and quiet hours,
 * which may hold a pending message as scheduled again at its release. Which move is legal from
 * which status is the graph in packages/db's migrations 0006 and 0014, where PostgreSQL enforces it.
 */
export const STATUS_RANK = {
  queued: 0,
  scheduled: 1,
  pending: 2,
  sent: 3,
  delivered: 4,
  failed: 4,
  dead_letter: 4,
  expired: 4,
  canceled: 4,
} as const;
export type MessageStatus = keyof typeof STATUS_RANK;
export const STATUSES = Object.keys(STATUS_RANK) as MessageStatus[];

export const LIMITS = {
  recipientMaxChars: 254,
  contentMaxChars: 4096,
  subjectMaxChars: 200,
  metadataMaxKeys: 16,
  metadataKeyMaxChars: 64,
  metadataValueMaxChars: 1024,
  ttlMaxSeconds: 2_592_000,
  idempotencyKeyMaxChars: 255,
  batchMaxMessages: 1000,
  singleBodyBytes: 64 * 1024,
  batchBodyBytes: 1024 * 1024,
  listMaxLimit: 1000,
  listDefaultLimit: 100,
  /** How far ahead sendAt may be: Twilio's own limit for scheduled messages. */
  sendAtMaxDays: 35,
} as const;

export const PriorityLiteral = Type.Union([Type.Literal('low'), Type.Literal('normal'), Type.Literal('high'), Type.Literal('critical')]);
export const ChannelLiteral = Type.Union([Type.Literal('app'), Type.Literal('sms'), Type.Literal('whatsapp'), Type.Literal('email')]);
const FallbackLiteral = Type.Union([Type.Literal('sms'), Type.Literal('whatsapp')]);
const StatusLiteral = Type.Union(STATUSES.map((s) => Type.Literal(s)));

/** E.164: a plus sign and 8 to 15 digits, the first not zero. */
export const E164_PATTERN = '^\\+[1-9][0-9]{7,14}$';
export const EMAIL_PATTERN = '^[^@\\s]{1,64}@[^@\\s]+\\.[^@\\s]+$';
/**
 * Text PostgreSQL can store and a provider can deliver byte-exact: no U+0000 (a text
 * column refuses it) and no lone UTF-16 surrogate (UTF-8 has no encoding for one). It
 * relies on the `u` flag, with which TypeBox and Ajv compile every pattern: a surrogate
 * pair is then one code point, so the class matches only a surrogate standing alone.
 */
export const STORABLE_TEXT_PATTERN = '^[^\\u0000\\uD800-\\uDFFF]*$';

function storableText(lengths: { minLength?: number; maxLength: number }) {
  return Type.String({ ...lengths, pattern: STORABLE_TEXT_PATTERN });
}

/**
 * Every key. Type.Record(Type.String(), …) is written as patternProperties "^.*$", and
 * "." matches no line terminator: a key holding "\n" escaped the value's schema, so
 * {"k\n": 5} passed validation and the api answered 500 on the number.
 */
const AnyKey = Type.String({ pattern: '^[\\s\\S]*$' });

/**
 * Strings under any keys: metadata already accepted (buffered or stored), checked for
 * shape only, so that a message accepted under other limits is still taken as it is.
 */
export const StringMap = Type.Record(AnyKey, Type.String());

/** What a sender may attach: closed, so that every entry is one PostgreSQL can store. */
const Metadata = Type.Record(AnyKey, storableText({ maxLength: LIMITS.metadataValueMaxChars }), {
  propertyNames: storableText({ minLength: 1, maxLength: LIMITS.metadataKeyMaxChars }),
  maxProperties: LIMITS.metadataMaxKeys,
});

/** The Idempotency-Key header: stored with the message, so held to the same rule as its text. */
export const IdempotencyKey = storableText({ minLength: 1, maxLength: LIMITS.idempotencyKeyMaxChars });

export const SendMessageRequest = Type.Object(
  {
    recipient: storableText({ minLength: 1, maxLength: LIMITS.recipientMaxChars }),
    content: storableText({ minLength: 1, maxLength: LIMITS.contentMaxChars }),
    subject: Type.Optional(storableText({ maxLength: LIMITS.subjectMaxChars })),
    priority: Type.Optional(PriorityLiteral),
    channel: Type.Optional(ChannelLiteral),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.ttlMaxSeconds })),
    fallback: Type.Optional(FallbackLiteral),
    fallbackAfterSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.ttlMaxSeconds })),
    metadata: Type.Optional(Metadata),
    /** RFC 3339 with an offset; at most LIMITS.sendAtMaxDays ahead (checked by validate-message.ts); a past time means now. */
    sendAt: Type.Optional(Type.String({ format: 'date-time', maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type SendMessageRequest = Static<typeof SendMessageRequest>;

export const BatchRequest = Type.Object(
  { messages: Type.Array(Type.Unknown(), { minItems: 1, maxItems: LIMITS.batchMaxMessages }) },
  { additionalProperties: false },
);
export type BatchRequest = Static<typeof BatchRequest>;

export const AcceptedResponse = Type.Object({
  id: Type.String(),
  status: Type.Literal('queued'),
  acceptedAt: Type.String(),
});
export type AcceptedResponse = Static<typeof AcceptedResponse>;

export const BatchResult = Type.Union([
  Type.Object({ index: Type.Integer(), id: Type.String(), status: Type.Literal('queued') }),
  Type.Object({ index: Type.Integer(), error: Type.Object({ code: Type.String(), message: Type.String() }) }),
]);
export type BatchResult = Static<typeof BatchResult>;

export const BatchResponse = Type.Object({
  accepted: Type.Integer(),
  rejected: Type.Integer(),
  results: Type.Array(BatchResult),
});
export type BatchResponse = Static<typeof BatchResponse>;

export const MessageEvent = Type.Object({
  status: Type.String(),
  at: Type.String(),
  detail: Type.Union([Type.String(), Type.Null()]),
});
export type MessageEvent = Static<typeof MessageEvent>;

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const MessageSummary = Type.Object({
  id: Type.String(),
  status: Type.String(),
  recipient: Type.String(),
  channel: Type.String(),
  priority: Type.String(),
  subject: Nullable(Type.String()),
  content: Type.String(),
  metadata: Nullable(StringMap),
  attempts: Type.Integer(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  deliveredAt: Nullable(Type.String()),
  failureReason: Nullable(Type.String()),
  /** An sms message's encoding and billed segments (sms-cost.ts); null for other channels. */
  sms: Nullable(Type.Object({ encoding: Type.Union([Type.Literal('GSM-7'), Type.Literal('UCS-2')]), segments: Type.Integer() })),
  /** When a scheduled message goes out: its sendAt, or the end of the quiet hours holding it; null when sent at once. */
  sendAt: Nullable(Type.String()),
  /** Why it waits past its sendAt (quiet hours, in words); null when it does not. */
  heldReason: Nullable(Type.String()),
});
export type MessageSummary = Static<typeof MessageSummary>;

export const MessageView = Type.Intersect([MessageSummary, Type.Object({ events: Type.Array(MessageEvent) })]);
export type MessageView = Static<typeof MessageView>;

export const MessageList = Type.Object({
  items: Type.Array(MessageSummary),
  nextCursor: Nullable(Type.String()),
});
export type MessageList = Static<typeof MessageList>;

export const ListQuery = Type.Object({
  status: Type.Optional(StatusLiteral),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.listMaxLimit })),
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
});
export type ListQuery = Static<typeof ListQuery>;
