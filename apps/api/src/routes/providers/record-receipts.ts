import { recordProviderReceipts, type ProviderReceipt, type ReceiptProvider, type ReceiptResult } from '@esh3ar/db';
import type { ReceiptMetrics } from '@esh3ar/observability';
import type { ErrorCode } from '@esh3ar/contracts';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type pg from 'pg';
import { apiError, unavailable, type ApiError } from '../../errors.ts';
import { json } from '../../route-docs.ts';

/** What a receipt route answers: each receipt's result, in order (a status that moves nothing is `stale`). */
export const receiptResults = json(
  'Recorded: one result per status in the request, in order',
  Type.Object({
    results: Type.Array(Type.Union(['applied', 'stale', 'early', 'unknown'].map((r) => Type.Literal(r))), {
      description: 'applied; stale (moves nothing); early (before the send’s answer, applied with it); unknown (not our id)',
    }),
  }),
  { applied: { results: ['applied'] }, unknownId: { results: ['unknown'] } },
);

/** A provider's signature, its body, and the store: what a receipt route can be refused for. */
export const RECEIPT_ERRORS: ErrorCode[] = ['UNAUTHENTICATED', 'VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE', 'UNAVAILABLE'];

export interface ReceiptRouteDeps {
  pool: pg.Pool;
  metrics: ReceiptMetrics;
}

/**
 * Records a provider's receipts, counts each by result, and answers 200 with the results
 * in order: providers retry anything else, an unknown id included (it would come back for
 * days). PostgreSQL unreachable: 503, and the provider's retry brings the receipts again.
 * `noNews` statuses that move nothing follow as `stale`, then `notOurs` receipts whose id
 * cannot be one of ours as `unknown`, neither looked up.
 */
export async function recordReceipts(
  deps: ReceiptRouteDeps,
  provider: ReceiptProvider,
  receipts: readonly ProviderReceipt[],
  noNews: number,
  notOurs = 0,
): Promise<{ results: ReceiptResult[] }> {
  let results: ReceiptResult[];
  try {
    results = await recordProviderReceipts(deps.pool, provider, receipts);
  } catch (error) {
    throw unavailable('the message store', error);
  }
  for (const result of results) deps.metrics.receipts.inc({ provider, result });
  if (noNews > 0) deps.metrics.receipts.inc({ provider, result: 'stale' }, noNews);
  if (notOurs > 0) deps.metrics.receipts.inc({ provider, result: 'unknown' }, notOurs);
  return {
    results: [
      ...results,
      ...Array.from({ length: noNews }, (): ReceiptResult => 'stale'),
      ...Array.from({ length: notOurs }, (): ReceiptResult => 'unknown'),
    ],
  };
}

/**
 * A request whose signature does not verify: 401, counted as forged, nothing read from it.
 * The challenge names the header the provider signs with (RFC 9110 §11.6.1: a 401 names a
 * scheme; this one is no registered scheme, which is why the error handler's Bearer is replaced).
 */
export function forged(deps: ReceiptRouteDeps, provider: ReceiptProvider, reply: FastifyReply, header: string): ApiError {
  deps.metrics.receipts.inc({ provider, result: 'forged' });
  reply.header('www-authenticate', `Signature realm="esh3ar", header="${header}"`);
  return apiError('UNAUTHENTICATED', `missing or invalid ${header}`);
}
