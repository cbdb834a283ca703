/**
 * @esh3ar/db — PostgreSQL for Esh3ar: the pool, the migrations (SQL files applied by
 * node-pg-migrate under an advisory lock), the exactly-once COPY writer, and the
 * queries the api answers from. SQL lives in sql/*.sql and migrations/*.sql; sqlFiles
 * reads another package's sql/*.sql the same way, timed under the files' names.
 */
export { createPool, isDataPgError, isTransientPgError, withDefaultUser, type PoolOptions } from './pool.ts';
export { sqlFiles } from './sql-files.ts';
export type { StatementObserver } from './statement-timing.ts';
export { migrate } from './migrate.ts';
export { COPY_COLUMNS, copyField, expiresAt, messageCopyRow, messageRowValues, type RowState } from './copy-encoding.ts';
export { isRowRefusal, parkMessages, storeBatch, type Refusal, type RowToStore, type StoreResult } from './copy-writer.ts';
export {
  createTenant,
  listTenants,
  setTenantDisabled,
  TENANT_LIMIT_MAX,
  type NewTenant,
  type Tenant,
  type TenantTier,
  type TenantView,
} from './tenants.ts';
export { createApiKey, findApiKey, listApiKeys, recordKeyUsage, revokeApiKey, type ApiKeyMatch, type ApiKeyView } from './api-keys.ts';
export { hashApiKey } from './api-key-secret.ts';
export { keyEventsAfter, lastKeyEventSeq, type KeyEvent } from './key-events.ts';
export { getMessage, listMessages, type ListOptions } from './messages.ts';
export {
  cancelMatching,
  cancelQueued,
  cancelStored,
  countMatching,
  type BulkCancel,
  type CancelFilter,
  type CanceledApp,
  type CancelOutcome,
} from './cancel.ts';
export { anyMessageStored, messagesByIdempotencyKey, type KeyedMessage } from './idempotency.ts';
export { expireDue, markDelivered, markSent, replayMessages, settledMessages, type Ack } from './delivery.ts';
export {
  claimProviderCall,
  claimProviderCalls,
  noteProviderWait,
  recordProviderOutcome,
  recordProviderOutcomes,
  type CallOutcome,
  type ClaimOptions,
  type ClaimState,
  type OutcomeKind,
  type ProviderCallClaim,
  type RecordedOutcome,
} from './providers.ts';
export {
  listDeadLetters,
  pageOfDeadLetters,
  replayDeadLetters,
  type DeadLetter,
  type DlqCursor,
  type DlqFilter,
  type ListedDeadLetter,
} from './dead-letters.ts';
export {
  DlqReplayStopped,
  replayAllDeadLetters,
  tallyDeadLetters,
  type DlqTally,
  type ReplayBounds,
  type ReplayRun,
} from './dead-letter-pages.ts';
export {
  claimWebhookTenants,
  disabledWebhookCount,
  dropWebhookOutbox,
  getTenantWebhook,
  markWebhookDelivered,
  removeTenantWebhook,
  retryWebhookLater,
  setTenantWebhook,
  webhookOutboxBatch,
  webhookOutboxLagSeconds,
  webhookOutboxOverCap,
  type OutboxEvent,
  type TenantWebhook,
  type WebhookClaim,
  type WebhookRetry,
} from './webhooks.ts';
export { recordProviderReceipts, type ProviderReceipt, type ReceiptProvider, type ReceiptResult, type ReceiptStatus } from './receipts.ts';
export {
  dropOrphanOutbox,
  outboxOrphanTenants,
  purgeExpiredOutbox,
  purgeMessages,
  withRetentionLock,
  type PurgedMessages,
} from './retention.ts';
export { releaseDue, type DueMessage, type Hold, type ReleaseOptions, type ReleaseRound } from './scheduling.ts';
export { allQuietHours, getQuietHours, removeQuietHours, setQuietHours, type QuietHours, type QuietHoursSetting } from './quiet-hours.ts';
export { createDatabase, type ThrowawayDatabase } from './throwaway-database.ts';
