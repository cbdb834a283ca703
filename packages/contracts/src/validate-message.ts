import { Compile } from 'typebox/compile';
import type { ErrorDetail } from './errors.ts';
import {
  E164_PATTERN,
  EMAIL_PATTERN,
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

export type Validation = { ok: true; value: ValidMessage } | { ok: false; message: string; details: ErrorDetail[] };

const checker = Compile(SendMessageRequest);
const e164 = new RegExp(E164_PATTERN);
const email = new RegExp(EMAIL_PATTERN);
const DEFAULT_FALLBACK_AFTER_SECONDS = 60;

/** What a sender reads for each field, rather than the validator's JSON-schema wording. */
const FIELD_MESSAGES: Record<string, string> = {
  recipient: 'recipient must be an E.164 phone number (an email address for channel email)',
  content: `content must be a string of 1 to ${LIMITS.contentMaxChars} characters without U+0000`,
  subject: `subject must be a string of at most ${LIMITS.subjectMaxChars} characters without U+0000`,
  priority: 'priority must be one of low, normal, high, critical',
  channel: 'channel must be one of app, sms, whatsapp, email',
  ttlSeconds: `ttlSeconds must be an integer from 1 to ${LIMITS.ttlMaxSeconds}`,
  fallback: 'fallback must be sms or whatsapp',
  fallbackAfterSeconds: `fallbackAfterSeconds must be an integer from 1 to ${LIMITS.ttlMaxSeconds}`,
  metadata: `metadata must be an object of at most ${LIMITS.metadataMaxKeys} string values without U+0000`,
};

function detailFor(instancePath: string, fallbackMessage: string, params: unknown): ErrorDetail {
  const field = instancePath.split('/')[1] ?? '';
  if (field === '') {
    const extra = (params as { additionalProperties?: string[] } | undefined)?.additionalProperties;
    if (extra?.length) return { path: `/${extra[0]}`, message: `unknown field ${extra.join(', ')}` };
    const missing = (params as { requiredProperties?: string[] } | undefined)?.requiredProperties;
    if (missing?.length) return { path: `/${missing[0]}`, message: `${missing.join(', ')} is required` };
    return { path: '/', message: `message ${fallbackMessage}` };
  }
  return { path: instancePath, message: FIELD_MESSAGES[field] ?? `${field} ${fallbackMessage}` };
}

function fail(details: ErrorDetail[]): Validation {
  const unique = details.filter((d, i) => details.findIndex((o) => o.path === d.path) === i);
  return { ok: false, message: unique[0]?.message ?? 'invalid message', details: unique };
}

export function validateMessage(input: unknown): Validation {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return fail([{ path: '/', message: 'message must be a JSON object' }]);
  }
  if (!checker.Check(input)) {
    return fail([...checker.Errors(input)].map((e) => detailFor(e.instancePath, e.message, e.params)));
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
  // JSON may carry lone UTF-16 surrogates; they cannot be stored or delivered byte-exact.
  if (!body.content.isWellFormed()) details.push({ path: '/content', message: 'content must be well-formed Unicode' });
  if (body.subject !== undefined && !body.subject.isWellFormed()) {
    details.push({ path: '/subject', message: 'subject must be well-formed Unicode' });
  }
  for (const [key, value] of Object.entries(body.metadata ?? {})) {
    if (!key.isWellFormed() || !value.isWellFormed() || key.includes('\u0000')) {
      details.push({ path: `/metadata/${key}`, message: 'metadata keys and values must be well-formed Unicode without U+0000' });
    }
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
