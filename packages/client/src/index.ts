/**
 * @esh3ar/client — Esh3ar's HTTP API for Node ≥ 20, browsers and bundlers, with no
 * dependency but the platform's fetch: send (one or a batch), read, list and cancel a
 * tenant's messages. Sends carry an Idempotency-Key, so the retries it makes on 429, 503
 * and lost connections (honouring Retry-After) never store a message twice; every
 * failure is an Esh3arError with the api's status, code and Retry-After.
 */
export { Esh3arClient, type Esh3arClientOptions, type SendOptions } from './client.js';
export { Esh3arError, type ClientErrorCode } from './errors.js';
export { DEFAULT_RETRY, type RetryPolicy } from './retry-policy.js';
export type {
  AcceptedResponse,
  ApiErrorCode,
  BatchResponse,
  BatchResult,
  CancelFilter,
  CancelManyResponse,
  Channel,
  ErrorDetail,
  ListQuery,
  MessageEvent,
  MessageList,
  MessageStatus,
  MessageSummary,
  MessageView,
  Priority,
  SendMessageRequest,
} from './types.js';
