import type pg from 'pg';
import { sql } from './sql-files.ts';

/** The providers whose receipts the api accepts: messages.provider names them so. */
export type ReceiptProvider = 'twilio' | 'meta';

/** What a receipt can make of a sent message. */
export type ReceiptStatus = 'delivered' | 'failed';

/**
 * What became of a receipt (migration 0012): applied (the message moved), stale (the message
 * is known and this is no news: already final, or not sent), early (kept until the provider's
 * id is recorded: a call to its recipient is in progress) or unknown (no message has this id;
 * kept 24 h all the same, in case it is early after all).
 */
export type ReceiptResult = 'applied' | 'stale' | 'early' | 'unknown';

export interface ProviderReceipt {
  providerMessageId: string;
  status: ReceiptStatus;
  /** E.164, as messages.recipient holds it; null when the receipt names none. */
  recipient: string | null;
  /** The event's detail: which provider reported it, and its error when it failed. */
  detail: string;
  /** messages.failure_reason when it failed. */
  reason: string | null;
}

/** Records one provider's receipts in one statement; the results in the receipts' order. */
export async function recordProviderReceipts(
  pool: pg.Pool,
  provider: ReceiptProvider,
  receipts: readonly ProviderReceipt[],
): Promise<ReceiptResult[]> {
  if (receipts.length === 0) return [];
  const { rows } = await pool.query<{ results: ReceiptResult[] }>(sql('receipt-record'), [
    provider,
    receipts.map((r) => r.providerMessageId),
    receipts.map((r) => r.status),
    receipts.map((r) => r.recipient),
    receipts.map((r) => r.detail),
    receipts.map((r) => r.reason),
  ]);
  return rows[0]!.results;
}
