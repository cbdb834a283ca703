import { Compile } from 'typebox/compile';
import type { TLocalizedValidationError } from 'typebox/error';
import type { ErrorDetail } from './errors.ts';
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

const WITHOUT_UNSTORABLE = 'without NUL (U+0000) or a lone surrogate (half of a UTF-16 pair)';

/** What a sender reads for each field, rather than the validator's JSON-schema wording. */
const FIELD_MESSAGES = new Map<string, string>([
  ['recipient', 'recipient must be an E.164 phone number (an email address for channel email)'],
  ['content', `content must be text of 1 to ${LIMITS.contentMaxChars} characters, ${WITHOUT_UNSTORABLE}`],
  ['subject', `subject must be text of at most ${LIMITS.subjectMaxChars} characters, ${WITHOUT_UNSTORABLE}`],
  ['priority', 'priority must be one of low, normal, high, critical'],
  ['channel', 'channel must be one of app, sms, whatsapp, email'],
  ['ttlSeconds', `ttlSeconds must be an integer from 1 to ${LIMITS.ttlMaxSeconds}`],
  ['fallback', 'fallback must be sms or whatsapp'],
  ['fallbackAfterSeconds', `fallbackAfterSeconds must be an integer from 1 to ${LIMITS.ttlMaxSeconds}`],
  ['metadata', `metadata must be an object of at most ${LIMITS.metadataMaxKeys} entries whose values are strings`],
]);
const METADATA_KEY_MESSAGE = `metadata keys must be 1 to ${LIMITS.metadataKeyMaxChars} characters, ${WITHOUT_UNSTORABLE}`;
const METADATA_VALUE_MESSAGE = `metadata values must be strings of at most ${LIMITS.metadataValueMaxChars} characters, ${WITHOUT_UNSTORABLE}`;
const IDEMPOTENCY_KEY_MESSAGE = `Idempotency-Key must be 1 to ${LIMITS.idempotencyKeyMaxChars} characters, ${WITHOUT_UNSTORABLE}`;

/** A JSON Pointer segment (RFC 6901), as the validator writes instance paths. */
function pointerSegment(name: string): string {
  return name.replaceAll('~', '~0').replaceAll('/', '~1');
}

function bodyDetail(error: TLocalizedValidationError): ErrorDetail {
  const { additionalProperties: extra, requiredProperties: missing } = error.params as {
    additionalProperties?: string[];
    requiredProperties?: string[];
  };
  if (error.keyword === 'additionalProperties' && extra?.[0] !== undefined) {
    const more = extra.length > 1 ? ` (and ${extra.length - 1} more)` : '';
    return { path: `/${pointerSegment(extra[0])}`, message: `unknown field ${JSON.stringify(extra[0])}${more}` };
  }
  if (error.keyword === 'required' && missing?.[0] !== undefined) {
    return { path: `/${missing[0]}`, message: `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} required` };
  }
  return { path: '/', message: 'message must be a JSON object' };
}

/** null: an error another one already reports in words (an unknown field's own, a summary of per-key errors). */
function detailFor(error: TLocalizedValidationError): ErrorDetail | null {
  if (error.instancePath === '') return bodyDetail(error);
  const [, field = '', key] = error.instancePath.split('/');
  const message = FIELD_MESSAGES.get(field);
  if (message === undefined) return null;
  if (field === 'metadata' && key !== undefined) {
    return {
      path: error.instancePath,
      message: error.schemaPath.endsWith('/propertyNames') ? METADATA_KEY_MESSAGE : METADATA_VALUE_MESSAGE,
    };
  }
  if (error.keyword === 'propertyNames') return null;
  return { path: error.instancePath, message };
}

function fail(details: ErrorDetail[]): { ok: false; message: string; details: ErrorDetail[] } {
  const unique = details.filter((d, i) => details.findIndex((o) => o.path === d.path) === i);
  return { ok: false, message: unique[0]?.message ?? 'invalid message', details: unique };
}

export function validateMessage(input: unknown): Validation {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return fail([{ path: '/', message: 'message must be a JSON object' }]);
  }
  if (!checker.Check(input)) {
    return fail(checker.Errors(input).flatMap((e) => detailFor(e) ?? []));
  }
  const body = input;
  const channel = body.channel ?? 'app';
  const details: ErrorDetail[] = [];
  const recipientOk = channel === 'email' ? email.test(body.recipient) : e164.test(body.recipient);
  if (!recipientOk) {
    details.push({
      path: '/recipient',
      message: channel === 'email' ? 'recipient must be an email address for channel email' : 'recipient must be an E.164 phone number',
    });
  }
  if (body.fallback !== undefined && channel !== 'app') {
    details.push({ path: '/fallback', message: 'fallback is only allowed with channel app' });
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
  const extra = isObject ? Object.keys(input).find((name) => name !== 'messages') : undefined;
  if (extra !== undefined) {
    return fail([
      { path: `/${pointerSegment(extra)}`, message: `unknown field ${JSON.stringify(extra)}: a batch is { "messages": [ ... ] }` },
    ]);
  }
  return fail([
    {
      path: isObject ? '/messages' : '/',
      message: `the body must be { "messages": [ ... ] } with 1 to ${LIMITS.batchMaxMessages} messages`,
    },
  ]);
}
