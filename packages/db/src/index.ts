/**
 * @esh3ar/db — PostgreSQL for Esh3ar: the pool, the migrations (SQL files applied by
 * node-pg-migrate under an advisory lock), the exactly-once COPY writer, and the
 * queries the api answers from. SQL lives in sql/*.sql and migrations/*.sql.
 */
export { createPool, isDataPgError, isTransientPgError, withDefaultUser, type PoolOptions } from './pool.ts';
export type { StatementObserver } from './statement-timing.ts';
export { migrate } from './migrate.ts';
export { COPY_COLUMNS, copyField, messageCopyRow, messageRowValues, type RowState } from './copy-encoding.ts';
export { isRowRefusal, parkMessages, storeBatch, type Refusal, type RowToStore, type StoreResult } from './copy-writer.ts';
export { createTenant, findTenantByApiKey, hashApiKey, type NewTenant, type Tenant, type TenantTier } from './tenants.ts';
export { getMessage, listMessages, type ListOptions } from './messages.ts';
export { appendRuntimeConfig, latestRuntimeConfig, runtimeConfigHistory, type NextVersion, type RuntimeConfigVersion } from './runtime-config.ts';
export { expireDue, markDelivered, markSent, replayMessages, settledMessages, type Ack } from './delivery.ts';
export {
  claimProviderCall,
  listDeadLetters,
  recordProviderAttempt,
  recordProviderOutcome,
  releaseProviderCall,
  replayDeadLetters,
  type DeadLetter,
  type DlqFilter,
  type ProviderCallClaim,
  type ProviderOutcome,
} from './providers.ts';
export {
  claimWebhookTenants,
  getTenantWebhook,
  markWebhookDelivered,
  removeTenantWebhook,
  retryWebhookLater,
  setTenantWebhook,
  webhookOutboxBatch,
  webhookOutboxLagSeconds,
  type OutboxEvent,
  type TenantWebhook,
  type WebhookClaim,
} from './webhooks.ts';
export { createDatabase, type ThrowawayDatabase } from './throwaway-database.ts';
