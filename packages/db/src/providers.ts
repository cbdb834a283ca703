import { PRIORITY_BY_RANK, type BufferedMessage } from '@esh3ar/contracts';
import type pg from 'pg';
import { sql } from './sql-files.ts';

export type ProviderOutcome = 'sent' | 'failed' | 'dead_letter';

/** Counts an attempt that leaves the message where it was and ends its claim; returns the attempts used since the last replay (null: not in `from`). */
export async function recordProviderAttempt(pool: pg.Pool, id: string, detail: string, from: readonly string[]): Promise<number | null> {
  const { rows } = await pool.query<{ used: number }>(sql('provider-attempt'), [id, detail, from]);
  return rows[0]?.used ?? null;
}

/**
 * Ends a pending message; false when it was no longer pending (nothing changed). A message
 * a provider accepted records which one (`provider`: sim, twilio, …) with its id there.
 */
export async function recordProviderOutcome(
  pool: pg.Pool,
  id: string,
  outcome: ProviderOutcome,
  details: { providerMessageId?: string; provider?: string; reason?: string; detail: string; countAttempt?: boolean },
  from: readonly string[],
): Promise<boolean> {
  const { rowCount } = await pool.query(sql('provider-outcome'), [
    id,
    outcome,
    details.providerMessageId ?? null,
    details.reason ?? null,
    details.detail,
    from,
    details.countAttempt === false ? 0 : 1,
    details.provider ?? null,
  ]);
  return rowCount === 1;
}

/** A claimed call that did not happen: the claim ends; `note` (null: already noted in this wait) says why the message waits. */
export async function releaseProviderCall(pool: pg.Pool, id: string, note: string | null): Promise<void> {
  await pool.query(sql('provider-release'), [id, note]);
}

export interface ProviderCallClaim {
  /** Seconds until the message's TTL runs out when it was claimed (null: no TTL). */
  secondsLeft: number | null;
}

/**
 * Claims a message for one provider call, for `leaseMs` (the expiry sweep leaves it alone
 * meanwhile); null when it is no longer to be sent: not in one of the statuses `from`,
 * already handed to a provider, past its TTL, or gone. Waits for a transaction holding the
 * row (a DLQ replay enqueuing before it commits) and decides on what that transaction left.
 */
export async function claimProviderCall(
  pool: pg.Pool,
  id: string,
  from: readonly string[],
  leaseMs: number,
): Promise<ProviderCallClaim | null> {
  const { rows } = await pool.query<{ claimed: boolean; seconds_left: number | null }>(sql('provider-claim'), [
    id,
    from,
    Math.ceil(leaseMs),
  ]);
  const row = rows[0];
  return row?.claimed ? { secondsLeft: row.seconds_left } : null;
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
 * before failing find their message dead-lettered (claimProviderCall) and send nothing; a
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
