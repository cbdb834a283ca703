import { ConfigError, readOptionalString, type Env } from '@esh3ar/config';

/** The final statuses Twilio reports in a status callback (https://www.twilio.com/docs/messaging/api/message-resource). */
export const RECEIPT_STATUSES = ['delivered', 'undelivered', 'failed'] as const;
export type ReceiptStatus = (typeof RECEIPT_STATUSES)[number];

/**
 * The ErrorCode sent with a status that is not delivered: 30003 "Unreachable destination
 * handset" and 30008 "Unknown error" (https://www.twilio.com/docs/api/errors/30003, /30008).
 */
export const RECEIPT_ERROR_CODES: Record<Exclude<ReceiptStatus, 'delivered'>, number> = { undelivered: 30003, failed: 30008 };

/** Each status with its share of the receipts, the shares summing to 1. */
export type ReceiptOutcomes = readonly { status: ReceiptStatus; share: number }[];

const isStatus = (value: string): value is ReceiptStatus => (RECEIPT_STATUSES as readonly string[]).includes(value);

/**
 * PROVIDER_SIM_RECEIPT_OUTCOMES: `status=weight` pairs separated by commas, as in
 * `delivered=0.9,undelivered=0.05,failed=0.05`; weights are relative (`delivered=9,failed=1`
 * is the same mix). Default: every message delivered.
 */
export function readReceiptOutcomes(env: Env, name: string): ReceiptOutcomes {
  const raw = readOptionalString(env, name) ?? 'delivered=1';
  const expected = `${name} must be status=weight pairs separated by commas (statuses: ${RECEIPT_STATUSES.join(', ')}), got "${raw}"`;
  const pairs = raw.split(',').map((pair) => {
    const [status, weight, extra] = pair.split('=').map((part) => part.trim());
    const value = Number(weight);
    if (extra !== undefined || status === undefined || !isStatus(status) || weight === '' || !Number.isFinite(value) || value < 0)
      throw new ConfigError(expected);
    return { status, weight: value };
  });
  if (new Set(pairs.map((p) => p.status)).size !== pairs.length) throw new ConfigError(`${name} names a status twice, got "${raw}"`);
  const total = pairs.reduce((sum, p) => sum + p.weight, 0);
  if (total === 0) throw new ConfigError(`${name} needs a weight above 0, got "${raw}"`);
  return pairs.filter((p) => p.weight > 0).map((p) => ({ status: p.status, share: p.weight / total }));
}

/** The status of one receipt; `random` returns [0, 1) like Math.random. */
export function pickReceiptStatus(outcomes: ReceiptOutcomes, random: () => number): ReceiptStatus {
  let draw = random();
  for (const { status, share } of outcomes) {
    if (draw < share) return status;
    draw -= share;
  }
  return outcomes.at(-1)!.status; // rounding left the draw just above the last share
}
