import { request, type Transport } from './request.js';
import { DEFAULT_RETRY, type RetryPolicy } from './retry-policy.js';
import type {
  AcceptedResponse,
  BatchResponse,
  CancelFilter,
  CancelManyResponse,
  ListQuery,
  MessageList,
  MessageView,
  SendMessageRequest,
} from './types.js';

export interface Esh3arClientOptions {
  /** The api's address, with any path prefix a proxy strips: `https://api.example.com`. */
  baseUrl: string;
  /** A tenant's API key, sent as `Authorization: Bearer`. */
  apiKey: string;
  /** Per attempt, reading the answer included. Default 15 s. */
  timeoutMs?: number;
  /** Defaults: DEFAULT_RETRY. `{ maxAttempts: 1 }` turns retries off. */
  retry?: Partial<RetryPolicy>;
}

export interface SendOptions {
  /**
   * The api stores one request per key and tenant for 24 h and answers repeats with the
   * first answer. Default: a new UUID per call, reused by that call's retries; pass your
   * own to make a retry of the whole call (after a crash, say) safe as well.
   */
  idempotencyKey?: string;
}

/**
 * 15 s per attempt: the api gives a client 10 s to send its request (API_REQUEST_TIMEOUT_MS)
 * and a repeat of an idempotent request waits up to 1 s for the first one's answer; an
 * answer later than that is not coming.
 */
const DEFAULT_TIMEOUT_MS = 15_000;

/** Esh3ar's HTTP API for one tenant. Every call throws an Esh3arError when it fails. */
export class Esh3arClient {
  readonly #transport: Transport;

  constructor(options: Esh3arClientOptions) {
    if (!options.baseUrl) throw new TypeError('Esh3arClient: baseUrl is required');
    if (!options.apiKey) throw new TypeError('Esh3arClient: apiKey is required');
    this.#transport = {
      baseUrl: options.baseUrl.replace(/\/+$/, ''),
      apiKey: options.apiKey,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      retry: { ...DEFAULT_RETRY, ...options.retry },
    };
  }

  /** POST /v1/messages: resolves once the message is durable (202). */
  send(message: SendMessageRequest, options: SendOptions = {}): Promise<AcceptedResponse> {
    return request(this.#transport, 'POST', '/v1/messages', {
      body: message,
      idempotencyKey: options.idempotencyKey ?? crypto.randomUUID(),
    });
  }

  /** POST /v1/messages/batch: up to 1000 messages; each is accepted or refused on its own (`results`). */
  sendBatch(messages: SendMessageRequest[], options: SendOptions = {}): Promise<BatchResponse> {
    return request(this.#transport, 'POST', '/v1/messages/batch', {
      body: { messages },
      idempotencyKey: options.idempotencyKey ?? crypto.randomUUID(),
    });
  }

  /** GET /v1/messages/{id}: the message and its events; NOT_FOUND for an unknown or another tenant's id. */
  get(id: string): Promise<MessageView> {
    return request(this.#transport, 'GET', `/v1/messages/${encodeURIComponent(id)}`);
  }

  /** GET /v1/messages: one page, newest first; pass `nextCursor` back as `cursor` for the next. */
  list(query: ListQuery = {}): Promise<MessageList> {
    const params = new URLSearchParams();
    if (query.status !== undefined) params.set('status', query.status);
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    if (query.cursor !== undefined) params.set('cursor', query.cursor);
    const search = params.toString();
    return request(this.#transport, 'GET', search === '' ? '/v1/messages' : `/v1/messages?${search}`);
  }

  /**
   * DELETE /v1/messages/{id}: cancels a message not yet sent (queued, scheduled or pending)
   * and resolves with it, now `canceled`. NOT_CANCELABLE (409) when it is already sent or
   * final or a provider has it, NOT_FOUND (404) for an unknown or another tenant's id.
   * Retrying is safe: a cancel that did land is answered NOT_CANCELABLE, already canceled.
   */
  cancel(id: string): Promise<MessageView> {
    return request(this.#transport, 'DELETE', `/v1/messages/${encodeURIComponent(id)}`);
  }

  /**
   * POST /v1/messages/cancel: cancels every stored message matching the filter (at least one
   * field besides `dryRun`), or with `dryRun` only counts them. Messages accepted a moment
   * ago and still queued are not matched.
   */
  cancelMany(filter: CancelFilter): Promise<CancelManyResponse> {
    return request(this.#transport, 'POST', '/v1/messages/cancel', { body: filter });
  }
}
