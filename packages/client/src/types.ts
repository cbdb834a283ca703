/**
 * The api's bodies, written out by hand so that the package needs nothing at run time:
 * `contract-types.test.ts` holds each one equal to the api's own schema (`@esh3ar/contracts`),
 * so `tsc -b` fails the day they part.
 */

export type Priority = 'low' | 'normal' | 'high' | 'critical';
export type Channel = 'app' | 'sms' | 'whatsapp' | 'email';
export type MessageStatus = 'queued' | 'scheduled' | 'pending' | 'sent' | 'delivered' | 'failed' | 'dead_letter' | 'expired' | 'canceled';

/** POST /v1/messages. Text counts Unicode code points; the api's limits are in Esh3ar's docs/api.md. */
export interface SendMessageRequest {
  recipient: string;
  content: string;
  subject?: string;
  priority?: Priority;
  channel?: Channel;
  ttlSeconds?: number;
  fallback?: 'sms' | 'whatsapp';
  fallbackAfterSeconds?: number;
  /** At most 16 entries; keys ≤ 64 characters, values ≤ 1024. */
  metadata?: Record<string, string>;
  /** RFC 3339 with an offset, at most 35 days ahead: stored as `scheduled` until then. A past time means now. */
  sendAt?: string;
}

/** 202 to POST /v1/messages: the message is durable in the api's buffer. */
export interface AcceptedResponse {
  id: string;
  status: 'queued';
  acceptedAt: string;
}

/** One message of a batch, by its index in the request: accepted, or refused and why. */
export type BatchResult = { index: number; id: string; status: 'queued' } | { index: number; error: { code: string; message: string } };

/** 202 to POST /v1/messages/batch, also when every message was refused. */
export interface BatchResponse {
  accepted: number;
  rejected: number;
  results: BatchResult[];
}

export interface MessageEvent {
  status: string;
  at: string;
  detail: string | null;
}

/** A message as a page of GET /v1/messages lists it. */
export interface MessageSummary {
  id: string;
  status: string;
  recipient: string;
  channel: string;
  priority: string;
  subject: string | null;
  content: string;
  metadata: Record<string, string> | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  deliveredAt: string | null;
  failureReason: string | null;
  /** What an `sms` message costs; null for other channels. */
  sms: { encoding: 'GSM-7' | 'UCS-2'; segments: number } | null;
  /** When a scheduled message goes out: its sendAt, or the end of the quiet hours holding it; null when sent at once. */
  sendAt: string | null;
  /** Why it waits past its sendAt (quiet hours, in words); null when it does not. */
  heldReason: string | null;
}

/** GET /v1/messages/{id}: the message with its history. */
export type MessageView = MessageSummary & { events: MessageEvent[] };

/** GET /v1/messages: newest first; `nextCursor` is null on the last page. */
export interface MessageList {
  items: MessageSummary[];
  nextCursor: string | null;
}

export interface ListQuery {
  status?: MessageStatus;
  /** 1 to 1000; the api's default is 100. */
  limit?: number;
  cursor?: string;
}

/** POST /v1/messages/cancel: the tenant's stored messages matching every field given (at least one). */
export interface CancelFilter {
  recipient?: string;
  /** Default both. */
  status?: ('scheduled' | 'pending')[];
  /** RFC 3339: messages whose send time is in [sendAtFrom, sendAtTo). */
  sendAtFrom?: string;
  sendAtTo?: string;
  /** Every pair must be in the message's metadata. */
  metadata?: Record<string, string>;
  /** Count what matches; cancel nothing. */
  dryRun?: boolean;
}

/** What a bulk cancel did: `matched` counts those a provider already has too, which stay as they are. */
export interface CancelManyResponse {
  matched: number;
  canceled: number;
  dryRun: boolean;
}

/** One field the api refused, by its JSON pointer. */
export interface ErrorDetail {
  path: string;
  message: string;
}

/** The codes of the api's error catalogue. */
export type ApiErrorCode =
  | 'INVALID_JSON'
  | 'INVALID_REQUEST'
  | 'VALIDATION_FAILED'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'NOT_CANCELABLE'
  | 'REQUEST_TIMEOUT'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'HEADERS_TOO_LARGE'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'RATE_LIMITED'
  | 'INTERNAL'
  | 'OVERLOADED'
  | 'UNAVAILABLE';
