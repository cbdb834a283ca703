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
}

export type Validation<T = ValidMessage> = { ok: true; value: T } | { ok: false; message: string; details: ErrorDetail[] };

const checker = Compile(SendMessageRequest);
const batchChecker = Compile(BatchRequest);
const idempotencyKeyChecker = Compile(IdempotencyKey);
const e164 = new RegExp(E164_PATTERN);
const email = new RegExp(EMAIL_PATTERN);
const DEFAULT_FALLBACK_AFTER_SECONDS = 60;

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

export function validateMessage(input: unknown): Validation {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return fail([{ path: '/', message: 'message must be a JSON object' }]);
  }
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
