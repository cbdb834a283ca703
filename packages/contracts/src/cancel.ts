import { Type, type Static } from 'typebox';
import { LIMITS, STORABLE_TEXT_PATTERN } from './message.ts';

/** The statuses a sender can cancel from: what no device or provider has yet. */
export const CANCELABLE_STATUSES = ['scheduled', 'pending'] as const;

/** Text PostgreSQL can compare: what no stored message holds (U+0000, a lone surrogate) is refused here, not by the database. */
const storable = (options: { minLength?: number; maxLength: number; description?: string }) =>
  Type.String({ ...options, pattern: STORABLE_TEXT_PATTERN });
const Instant = (description: string) => Type.Optional(Type.String({ format: 'date-time', maxLength: 64, description }));

/** The fields of a bulk cancel that choose messages: at least one is required (dryRun chooses none). */
export const CANCEL_FILTER_FIELDS = ['recipient', 'status', 'sendAtFrom', 'sendAtTo', 'metadata'] as const;

/** POST /v1/messages/cancel: the tenant's stored messages matching every field given. */
export const BulkCancelRequest = Type.Object(
  {
    recipient: Type.Optional(storable({ minLength: 1, maxLength: LIMITS.recipientMaxChars, description: 'Exactly this recipient' })),
    status: Type.Optional(
      Type.Array(Type.Union([Type.Literal('scheduled'), Type.Literal('pending')]), {
        minItems: 1,
        uniqueItems: true,
        description: 'Default both: scheduled and pending',
      }),
    ),
    sendAtFrom: Instant('RFC 3339: messages whose send time is at or after it'),
    sendAtTo: Instant('RFC 3339: messages whose send time is before it'),
    // Keys of any characters (`^[\s\S]*$`: ".*" would let a key holding a newline past the value's schema).
    metadata: Type.Optional(
      Type.Record(Type.String({ pattern: '^[\\s\\S]*$' }), storable({ maxLength: LIMITS.metadataValueMaxChars }), {
        propertyNames: storable({ minLength: 1, maxLength: LIMITS.metadataKeyMaxChars }),
        minProperties: 1,
        maxProperties: LIMITS.metadataMaxKeys,
        description: 'Every pair must be in the message’s metadata',
      }),
    ),
    dryRun: Type.Optional(Type.Boolean({ description: 'Count what matches; cancel nothing' })),
  },
  { additionalProperties: false },
);
export type BulkCancelRequest = Static<typeof BulkCancelRequest>;

/** What a bulk cancel did. */
export const BulkCancelResponse = Type.Object({
  matched: Type.Integer({ description: 'Stored messages matching the filter, those a provider already has included' }),
  canceled: Type.Integer({ description: 'Of those, the ones canceled (0 on a dry run)' }),
  dryRun: Type.Boolean(),
});
export type BulkCancelResponse = Static<typeof BulkCancelResponse>;
