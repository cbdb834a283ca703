import type pg from 'pg';
import { sql } from './sql-files.ts';

/** A pool, or a client inside a transaction of the caller's. */
type Queryable = Pick<pg.Pool, 'query'>;

/**
 * The statements a worker runs dozens of times a second (a claim and an outcome per batch
 * of calls), as named prepared statements: parsed and planned once per connection, and
 * their 2-4 KB of text (with the comments) sent once rather than with every batch. The
 * sends took 12% of a worker's CPU (bench/providers/sms-channel.ts, CPU profile).
 */
const prepared = (name: string, values: unknown[]): pg.QueryConfig => ({ name, text: sql(name), values });

/** What a claim found for one message (sql/provider-claim.sql says when each applies). */
export type ClaimState = 'claimed' | 'done' | 'busy' | 'unknown' | 'elsewhere';

export interface ProviderCallClaim {
  id: string;
  state: ClaimState;
  /** Seconds until the message's TTL runs out (null: no TTL). */
  secondsLeft: number | null;
  /** The provider of an earlier call that never ended (`unknown`, `elsewhere`). */
  earlierProvider: string | null;
  /** `busy`: ms until the other call's lease ends. */
  callMsLeft: number | null;
}

export interface ClaimOptions {
  /** The statuses a message may be sent from. */
  from: readonly string[];
  /** How long the calls may take at most, with the outcome's round trip. */
  leaseMs: number;
  /** The provider the calls go to. */
  provider: string;
  /** Providers that recognise a repeated call by our message id, and answer it without sending twice. */
  deduplicating: readonly string[];
}

/**
 * Claims messages for one provider call each, in one statement; a message not in the
 * answer is gone. Only `claimed` ones may be called (the others: sql/provider-claim.sql).
 */
export async function claimProviderCalls(pool: Queryable, ids: readonly string[], options: ClaimOptions): Promise<ProviderCallClaim[]> {
  if (ids.length === 0) return [];
  const { rows } = await pool.query<{
    id: string;
    state: ClaimState;
    earlier_provider: string | null;
    seconds_left: number | null;
    call_ms_left: number | null;
  }>(prepared('provider-claim', [ids, options.from, Math.ceil(options.leaseMs), options.provider, options.deduplicating]));
  return rows.map((r) => ({
    id: r.id,
    state: r.state,
    secondsLeft: r.seconds_left,
    earlierProvider: r.earlier_provider,
    callMsLeft: r.call_ms_left,
  }));
}

/** How a claimed call ended, as sql/provider-outcome.sql records it. */
export type OutcomeKind = 'sent' | 'unknown' | 'failed' | 'attempt' | 'release';

export interface CallOutcome {
  id: string;
  kind: OutcomeKind;
  /** sent: the provider's id of the message. */
  providerMessageId?: string;
  /** sent, unknown: the provider called. */
  provider?: string;
  /** failed, attempt: the failure, the message's failure_reason if it ends there. */
  reason?: string;
  /**
   * The event's detail; an attempt's is a note (release: none, null). A sent one's may be
   * null: "accepted by the <channel> provider <provider> (<id>)", or for a fallback "no
   * device acknowledged in time; sent by <channel> through <provider> (<id>)".
   */
  detail: string | null;
}

export interface RecordedOutcome {
  kind: OutcomeKind;
  /** The message's status after it. */
  status: string;
  /** Attempts since the last replay, this one included. */
  used: number;
}

/**
 * Records a batch's outcomes in one statement, with their events, and ends their claims;
 * answers per message recorded (one that was no longer to be sent is left out), so a
 * caller sees which attempts used up the retry budget (status dead_letter).
 */
export async function recordProviderOutcomes(
  db: Queryable,
  outcomes: readonly CallOutcome[],
  options: { from: readonly string[]; maxAttempts: number; channel?: string; reason?: string },
): Promise<Map<string, RecordedOutcome>> {
  if (outcomes.length === 0) return new Map();
  const { rows } = await db.query<{ id: string; kind: OutcomeKind; status: string; used: number }>(
    prepared('provider-outcome', [
      outcomes.map((o) => o.id),
      outcomes.map((o) => o.kind),
      outcomes.map((o) => o.providerMessageId ?? null),
      outcomes.map((o) => o.provider ?? null),
      outcomes.map((o) => o.reason ?? null),
      outcomes.map((o) => o.detail),
      options.from,
      options.maxAttempts,
      options.channel ?? null,
      options.reason ?? null,
    ]),
  );
  return new Map(rows.map((r) => [r.id, { kind: r.kind, status: r.status, used: r.used }]));
}

/** Notes why these messages wait (every provider's circuit is open), on those still pending. */
export async function noteProviderWait(pool: Queryable, ids: readonly string[], note: string): Promise<void> {
  if (ids.length > 0) await pool.query(sql('provider-wait'), [ids, note]);
}

/** One message's claim, for callers that hold one: `claimed` or null. */
export async function claimProviderCall(
  pool: Queryable,
  id: string,
  from: readonly string[],
  leaseMs: number,
  provider = 'sim',
): Promise<ProviderCallClaim | null> {
  const [claim] = await claimProviderCalls(pool, [id], { from, leaseMs, provider, deduplicating: [] });
  return claim?.state === 'claimed' ? claim : null;
}

/** One message's acceptance or refusal; false when it was no longer to be sent (nothing changed). */
export async function recordProviderOutcome(
  db: Queryable,
  id: string,
  outcome: 'sent' | 'failed',
  details: { providerMessageId?: string; provider?: string; reason?: string; detail: string },
  from: readonly string[],
): Promise<boolean> {
  const recorded = await recordProviderOutcomes(db, [{ id, kind: outcome, ...details }], { from, maxAttempts: 2 ** 31 - 1 });
  return recorded.has(id);
}
