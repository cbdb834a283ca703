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
  LIMITS,
  ListQuery,
  MessageEvent,
  MessageList,
  MessageSummary,
  MessageView,
  PRIORITIES,
  STATUSES,
  STATUS_RANK,
  SendMessageRequest,
  type Channel,
  type MessageStatus,
  type Priority,
} from './message.ts';
export { validateBatch, validateIdempotencyKey, validateMessage, type Validation, type ValidMessage } from './validate-message.ts';
export {
  BufferedMessage,
  CHANNEL_PROVIDERS,
  JOBS,
  JOB_PRIORITY,
  PRIORITY_BY_RANK,
  PRIORITY_RANK,
  checkBufferedMessage,
  checkIngestJob,
  checkSendJob,
  PROVIDER_CHANNELS,
  sampleBufferedMessage,
  SEND_JOB_NAME,
  SendJobData,
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
  FRAME_ERROR_CODES,
  checkAckFrame,
  toMessageFrame,
  type DeliveryItem,
  type ErrorFrame,
  type FrameErrorCode,
  type MessageFrame,
} from './gateway.ts';
export {
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  WEBHOOK_TOLERANCE_SECONDS,
  signWebhook,
  verifyWebhookSignature,
} from './webhook-signature.ts';
export {
  WEBHOOK_STATUSES,
  WEBHOOK_URL_MAX_CHARS,
  webhookUrlProblem,
  type WebhookDelivery,
  type WebhookEvent,
  type WebhookStatus,
} from './webhook-event.ts';
