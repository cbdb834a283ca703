import { Compile } from 'typebox/compile';
import type { ErrorDetail } from './errors.ts';
import { describeSchemaErrors } from './schema-words.ts';
import {
  BatchRequest,
  E164_PATTERN,
  EMAIL_PATTERN,
  IdempotencyKey,
  LIMITS,
  SendMessageRequest,
  type Channel,
  type Priority,
} from './message.ts';

/** A request that passed validation, with the contract's defaults filled in. */
export interface ValidMessage {
  recipient: string;
  content: string;
  subject: string | null;
  priority: Priority;
  channel: Channel;
  ttlSeconds: number | null;
  fallback: 'sms' | 'whatsapp' | null;
  fallbackAfterSeconds: number | null;
  metadata: Record<string, string> | null;
  /** When to send it (ISO 8601, UTC), or null: at once (no sendAt, or one already past). */
  sendAt: string | null;
}

export type Validation<T = ValidMessage> = { ok: true; value: T } | { ok: false; message: string; details: ErrorDetail[] };

const checker = Compile(SendMessageRequest);
const batchChecker = Compile(BatchRequest);
const idempotencyKeyChecker = Compile(IdempotencyKey);
const e164 = new RegExp(E164_PATTERN);
const email = new RegExp(EMAIL_PATTERN);
const DEFAULT_FALLBACK_AFTER_SECONDS = 60;

/** RFC 3339 (section 5.6): a full date, a full time, and Z or an offset. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const SEND_AT_EXAMPLE = 'such as 2026-12-24T09:00:00Z or 2026-12-24T12:00:00+03:00';
const DAY_MS = 86_400_000;

/** sendAt as the instant it names (ISO, UTC), null for a time already past, or why it is refused. */
export function readSendAt(value: string, now: number): { ok: true; value: string | null } | { ok: false; message: string } {
  const at = RFC3339.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(at)) return { ok: false, message: `"sendAt" must be an RFC 3339 date-time with a time zone, ${SEND_AT_EXAMPLE}` };
  if (at - now > LIMITS.sendAtMaxDays * DAY_MS) {
    return { ok: false, message: `"sendAt" must be at most ${LIMITS.sendAtMaxDays} days ahead` };
  }
  return { ok: true, value: at <= now ? null : new Date(at).toISOString() };
}

const IDEMPOTENCY_KEY_MESSAGE = `Idempotency-Key must be 1 to ${LIMITS.idempotencyKeyMaxChars} characters, without NUL (U+0000) or a lone surrogate (half of a UTF-16 pair)`;
const BATCH_SHAPE = 'a batch is { "messages": [ ... ] }';

/** A JSON Pointer segment (RFC 6901), as the validator writes instance paths. */
function pointerSegment(name: string): string {
  return name.replaceAll('~', '~0').replaceAll('/', '~1');
}

function fail(details: ErrorDetail[]): { ok: false; message: string; details: ErrorDetail[] } {
  const unique = details.filter((d, i) => details.findIndex((o) => o.path === d.path) === i);
  return { ok: false, message: unique[0]?.message ?? 'invalid message', details: unique };
}

/** The fields a message may have: SendMessageRequest's. */
const MESSAGE_FIELDS = new Set(Object.keys(SendMessageRequest.properties));
/** Unknown fields named in a refusal, at most (the words name the first; the details list these). */
const UNKNOWN_FIELDS_SHOWN = 8;

/**
 * What the schema's check needs to see of a message too wide to be valid, for the same
 * refusal: its known fields with the first few unknown ones, and metadata cut to one entry
 * past its limit. TypeBox checks (and then describes) every key: a batch message with
 * 80,000 metadata entries took half a second of CPU to refuse. Unchanged when it is not
 * wider than a valid message can be.
 */
function narrowed(input: Record<string, unknown>): Record<string, unknown> {
  // Counted without copying: most messages are neither, and pass through as they are.
  const metadata = input.metadata;
  const wideMetadata =
    typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata) && hasMoreKeysThan(metadata, LIMITS.metadataMaxKeys);
  if (!wideMetadata && !hasMoreKeysThan(input, MESSAGE_FIELDS.size)) return input;
  const out: Record<string, unknown> = {};
  let unknown = 0;
  for (const key of Object.keys(input)) {
    if (!MESSAGE_FIELDS.has(key) && ++unknown > UNKNOWN_FIELDS_SHOWN) continue;
    own(out, key, input[key]);
  }
  if (wideMetadata) own(out, 'metadata', firstEntries(metadata, LIMITS.metadataMaxKeys + 1));
  return out;
}

/** An own property, whatever the key ("__proto__" included). */
function own(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Whether `object` has more than `n` own keys, without listing them all. */
function hasMoreKeysThan(object: object, n: number): boolean {
  let count = 0;
  for (const key in object) if (Object.hasOwn(object, key) && ++count > n) return true;
  return false;
}

/** The first `n` own entries of `object`, without listing the rest. */
function firstEntries(object: object, n: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let taken = 0;
  for (const key in object) {
    if (!Object.hasOwn(object, key)) continue;
    if (taken++ === n) break;
    own(out, key, (object as Record<string, unknown>)[key]);
  }
  return out;
}

export function validateMessage(input: unknown, now = Date.now()): Validation {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return fail([{ path: '/', message: 'message must be a JSON object' }]);
  }
  const checked = narrowed(input as Record<string, unknown>);
  if (checked !== input) return fail(describeSchemaErrors(checker.Errors(checked), { whole: 'the message', schema: SendMessageRequest }));
  if (!checker.Check(input)) return fail(describeSchemaErrors(checker.Errors(input), { whole: 'the message', schema: SendMessageRequest }));
  const body = input;
  const channel = body.channel ?? 'app';
  const details: ErrorDetail[] = [];
  const recipientOk = channel === 'email' ? email.test(body.recipient) : e164.test(body.recipient);
  if (!recipientOk) {
    details.push({
      path: '/recipient',
      message:
        channel === 'email'
          ? '"recipient" must be an email address for channel email'
          : '"recipient" must be an E.164 phone number such as +966501234567',
    });
  }
  if (body.fallback !== undefined && channel !== 'app') {
    details.push({ path: '/fallback', message: '"fallback" is only allowed with channel app' });
  }
  let sendAt: string | null = null;
  if (body.sendAt !== undefined) {
    const read = readSendAt(body.sendAt, now);
    if (read.ok) sendAt = read.value;
    else details.push({ path: '/sendAt', message: read.message });
  }
  if (details.length > 0) return fail(details);
  return {
    ok: true,
    value: {
      recipient: body.recipient,
      content: body.content,
      subject: body.subject ?? null,
      priority: body.priority ?? 'normal',
      channel,
      ttlSeconds: body.ttlSeconds ?? null,
      fallback: body.fallback ?? null,
      fallbackAfterSeconds: body.fallback ? (body.fallbackAfterSeconds ?? DEFAULT_FALLBACK_AFTER_SECONDS) : null,
      metadata: body.metadata ?? null,
      sendAt,
    },
  };
}

/** The Idempotency-Key header, absent (null) or valid; it is stored with the message. */
export function validateIdempotencyKey(header: unknown): Validation<string | null> {
  if (header === undefined) return { ok: true, value: null };
  if (typeof header === 'string' && idempotencyKeyChecker.Check(header)) return { ok: true, value: header };
  return fail([{ path: 'headers/idempotency-key', message: IDEMPOTENCY_KEY_MESSAGE }]);
}

/** The batch envelope `{ messages: [...] }`; each message is validated on its own, by index. */
export function validateBatch(input: unknown): Validation<unknown[]> {
  if (batchChecker.Check(input)) return { ok: true, value: input.messages };
  const isObject = typeof input === 'object' && input !== null && !Array.isArray(input);
  if (!isObject) return fail([{ path: '/', message: `the body must be an object: ${BATCH_SHAPE}` }]);
  const extra = Object.keys(input).find((name) => name !== 'messages');
  if (extra !== undefined) {
    return fail([{ path: `/${pointerSegment(extra)}`, message: `unknown field ${JSON.stringify(extra)}: ${BATCH_SHAPE}` }]);
  }
  const [detail] = describeSchemaErrors(batchChecker.Errors(input));
  return fail([
    {
      path: '/messages',
      message: `${detail?.message ?? '"messages" is invalid'}: ${BATCH_SHAPE} with 1 to ${LIMITS.batchMaxMessages} messages`,
    },
  ]);
}
