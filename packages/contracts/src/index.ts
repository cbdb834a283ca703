/**
 * @esh3ar/contracts — the public shapes of Esh3ar: request and response schemas
 * (TypeBox, so one definition gives both the JSON Schema and the TypeScript type),
 * the error-code catalogue with HTTP statuses, and the job catalogue shared by the
 * producers (api) and consumers (worker). It imports nothing of ours.
 */
export { ERROR_STATUS, ErrorBody, ErrorDetail, errorBody, type ErrorCode } from './errors.ts';
export {
  AcceptedResponse,
  BatchRequest,
  BatchResponse,
  BatchResult,
  CHANNELS,
  E164_PATTERN,
  IdempotencyKey,
  LIMITS,
  ListQuery,
  MessageEvent,
  MessageList,
  MessageSummary,
  MessageView,
  PRIORITIES,
  STATUSES,
  STATUS_RANK,
  STORABLE_TEXT_PATTERN,
  SendMessageRequest,
  type Channel,
  type MessageStatus,
  type Priority,
} from './message.ts';
export { validateBatch, validateIdempotencyKey, validateMessage, type Validation, type ValidMessage } from './validate-message.ts';
export { describeSchemaErrors } from './schema-words.ts';
export { BulkCancelRequest, BulkCancelResponse, CANCEL_FILTER_FIELDS, CANCELABLE_STATUSES } from './cancel.ts';
export {
  CLOCK_TIME_PATTERN,
  CLOCK_TIME_WORDS,
  knownTimeZone,
  QuietHoursRequest,
  QuietHoursView,
  SAME_START_AND_END,
  unknownTimeZoneWords,
} from './quiet-hours.ts';
export { validateQuietHours } from './validate-quiet-hours.ts';
export {
  BufferedMessage,
  CHANNEL_PROVIDERS,
  JOBS,
  JOB_PRIORITY,
  PRIORITY_BY_RANK,
  PRIORITY_RANK,
  checkBufferedMessage,
  dueAt,
  checkIngestJob,
  checkSendJob,
  PROVIDER_CHANNELS,
  sampleBufferedMessage,
  SEND_BATCH_MAX,
  SEND_JOB_NAME,
  SendJobData,
  SendMessage,
  sendQueueName,
  type IngestJobData,
  type ProviderChannel,
  type ProviderName,
} from './jobs.ts';
export { BufferCheck, ReadyResponse } from './health.ts';
export { isUuid, UUID_PATTERN } from './uuid.ts';
export { smsCost, smsCostOf, type SmsCost } from './sms-cost.ts';
export {
  AckFrame,
  ErrorFrame,
  FRAME_ERROR_CODES,
  GATEWAY_CLOSE_CODES,
  HeartbeatFrame,
  MessageFrame,
  ReplayedFrame,
  ServerFrame,
  checkAckFrame,
  checkServerFrame,
  toMessageFrame,
  type CloseAction,
  type DeliveryItem,
  type FrameErrorCode,
} from './gateway.ts';
export { newWebhookSecret, webhookHeaders } from './webhook-signature.ts';
export {
  WEBHOOK_STATUSES,
  WEBHOOK_URL_MAX_CHARS,
  webhookRequest,
  webhookTestEvent,
  webhookUrlProblem,
  type WebhookDelivery,
  type WebhookEvent,
  type WebhookStatus,
  type WebhookTestEvent,
} from './webhook-event.ts';
