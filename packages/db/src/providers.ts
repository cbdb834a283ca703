import { PRIORITY_BY_RANK, type BufferedMessage } from '@esh3ar/contracts';
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

export interface DeadLetter {
  id: string;
  tenantId: string;
  recipient: string;
  channel: string;
  priority: string;
  failureReason: string | null;
  attempts: number;
  movedToDlqAt: string;
  createdAt: string;
}

export interface DlqFilter {
  tenantId?: string | null;
  channel?: string | null;
  error?: string | null;
  since?: string | null;
  until?: string | null;
}

export async function listDeadLetters(
  pool: pg.Pool,
  filter: DlqFilter,
  limit: number,
  after: { at: string; id: string } | null,
): Promise<DeadLetter[]> {
  const { rows } = await pool.query<{
    id: string;
    tenant_id: string;
    recipient: string;
    channel: string;
    priority: number;
    failure_reason: string | null;
    attempts: number;
    moved_to_dlq_at: Date;
    created_at: Date;
  }>(sql('dlq-list'), [
    filter.tenantId ?? null,
    filter.channel ?? null,
    filter.error ?? null,
    filter.since ?? null,
    filter.until ?? null,
    after?.at ?? null,
    after?.id ?? null,
    limit,
  ]);
  return rows.map((r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    recipient: r.recipient,
    channel: r.channel,
    priority: PRIORITY_BY_RANK[r.priority] ?? 'normal',
    failureReason: r.failure_reason,
    attempts: r.attempts,
    movedToDlqAt: r.moved_to_dlq_at.toISOString(),
    createdAt: r.created_at.toISOString(),
  }));
}

type ReplayRow = {
  id: string;
  tenant_id: string;
  recipient: string;
  channel: BufferedMessage['channel'];
  priority: number;
  subject: string | null;
  content: string;
  metadata: Record<string, string> | null;
  created_at: Date;
  ttl_seconds: number | null;
  fallback: string | null;
  fallback_after_seconds: number | null;
};

const toBufferedMessage = (r: ReplayRow): BufferedMessage => ({
  id: r.id,
  tenantId: r.tenant_id,
  acceptedAt: r.created_at.toISOString(),
  recipient: r.recipient,
  channel: r.channel,
  priority: PRIORITY_BY_RANK[r.priority] ?? 'normal',
  subject: r.subject,
  content: r.content,
  metadata: r.metadata,
  ttlSeconds: r.ttl_seconds,
  fallback: r.fallback,
  fallbackAfterSeconds: r.fallback_after_seconds,
  idempotencyKey: null,
});

/**
 * Moves these dead letters back to pending and has `enqueue` send them again, atomically:
 * the move commits only once `enqueue` resolved; if it throws (Redis down half-way), the
 * move is rolled back and every message is still a dead letter. Jobs it managed to add
 * before failing find their message dead-lettered (claimProviderCalls) and send nothing; a
 * job taken while this transaction is open waits for its outcome, since the claim waits for
 * the row. Chosen over a reconciler that would find pending messages without a job: that
 * needs a scan of Redis against PostgreSQL, and sends late, where this needs nothing more.
 * Returns the messages moved (ids neither dead letters nor existing are left out).
 */
export async function replayDeadLetters(
  pool: pg.Pool,
  ids: readonly string[],
  enqueue: (messages: readonly BufferedMessage[]) => Promise<unknown>,
): Promise<BufferedMessage[]> {
  if (ids.length === 0) return [];
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      // The moved rows stay locked, and send jobs taken meanwhile wait on them, until this
      // commits: a replay whose enqueue hangs is ended by the server after 10 s (rolled back)
      // rather than holding them. 10 s is 5x the api's Redis command timeout (2 s, failFast).
      await client.query("SET LOCAL idle_in_transaction_session_timeout = '10s'");
      const { rows } = await client.query<ReplayRow>(sql('dlq-replay'), [ids]);
      const messages = rows.map(toBufferedMessage);
      if (messages.length > 0) await enqueue(messages);
      await client.query('COMMIT');
      return messages;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError; // a connection that cannot roll back is not reused
      });
      throw error;
    }
  } finally {
    client.release(broken);
  }
}
