import { setTimeout as sleep } from 'node:timers/promises';
import { checkSendJob, type ProviderChannel, type ProviderName, type SendJobData, type SendMessage } from '@esh3ar/contracts';
import { noteProviderWait } from '@esh3ar/db';
import { cappedBackoffMs, laterSendJob, type Grant, type SendJob } from '@esh3ar/queue';
import type { RuntimeConfig } from '@esh3ar/runtime';
import { UnrecoverableError, type Job, type Queue } from 'bullmq';
import type pg from 'pg';
import type { Logger } from 'pino';
import { chooseRoute, type FailoverDeps, type Route } from './failover.ts';
import type { InFlight } from './in-flight.ts';
import type { TakeTokens } from './provider-rates.ts';
import { sendChunk, type ChunkContext, type ChunkResult } from './send-chunk.ts';
import { waitingDetail, type Outcome } from './send-outcome.ts';

/** Ids named on a batch's dead-letter or outcome-unknown log line, at most. */
const LOGGED_IDS = 20;

export interface SendDeps extends FailoverDeps {
  pool: pg.Pool;
  logger: Logger;
  runtime: () => RuntimeConfig;
  /** Each channel's queue, for the later jobs of a job's messages. */
  queues: ReadonlyMap<ProviderChannel, Queue<SendJobData>>;
  /** The messages the worker has claimed and not yet called back, shared by its channels. */
  claimed: InFlight;
  /** The worker's calls in flight, shared by its channels. */
  inFlight: InFlight;
  /** Each provider account's rate limit, shared by the workers. */
  takeTokens: TakeTokens;
  onOutcome: (channel: ProviderChannel, outcome: Outcome, count: number) => void;
  /** How long a claim lasts: the longest a claimed message can wait for its call and take, with the outcome's round trip. */
  leaseMs: number;
  /** The backoff of a transient failure without a Retry-After, by the attempts the message has used. */
  retry: { baseMs: number; maxMs: number };
  /** Aborted when the worker stops: no call starts after it, and the messages left go to a later job. */
  stopping?: AbortSignal;
}

/**
 * Messages claimed and recorded per statement: up to 128, and at least 64 (unless the job
 * has fewer or a rate limit grants fewer) when the worker holds as many claimed messages
 * as it may and they free one by one. Chunks of ~20, as slots freed one at a time made
 * them, took 16 ms a statement: 2,100 sends/s with 512 in flight, 4,600 with these
 * (bench/providers/sms-channel.ts). A statement of 128 rows takes little more than one of
 * 20; waiting for 64 free slots leaves ~32 of 1,024 idle.
 */
const CHUNK_MAX = 128;
const CHUNK_MIN = 64;
type ProviderRoute = Extract<Route, { kind: 'provider' }>;

/** A provider's Retry-After is honoured down to 50 ms; below, the retry job's own delay. */
const MIN_RETRY_AFTER_MS = 50;
/** Beyond the lease of the call holding a message, before looking again. */
const BUSY_MARGIN_MS = 100;

/**
 * Sends a job's messages (one channel, reason and priority) through the first provider of
 * the channel whose breaker lets calls through (failover.ts), many calls in flight at once:
 * in chunks of up to CHUNK_MAX, each as many claim slots and rate tokens (provider-rates.ts)
 * as it has messages, one claim statement before its calls and one outcome statement after,
 * each call with an in-flight slot (in-flight.ts; send-chunk.ts). The message row is the source of truth: a
 * message already handed to a provider, no longer waiting, past its TTL or held by another
 * call is not called, so a job run twice (a re-run after a crash, a replay's old job)
 * never sends twice from our side.
 *
 * Outcomes: accepted → sent; refused → failed; transient → attempt counted, and the message
 * goes to a later `retry` job after the provider's Retry-After (the longest in the job) or
 * the backoff of its attempts, until worker.maxAttempts → dead_letter; every provider's
 * circuit open → a later `wait` job when the soonest probes again, nothing counted, the
 * reason noted once per wait. The job itself fails only when PostgreSQL or Redis does (or
 * on a bug), and is then run again by BullMQ. Resolves with each message's outcome.
 */
export function sendProcessor(deps: SendDeps) {
  return async function processSendJob(job: Job<SendJobData>): Promise<Map<string, Outcome>> {
    if (!checkSendJob.Check(job.data)) throw new UnrecoverableError(`send job ${job.id} has an invalid payload`);
    const { channel, reason } = job.data;
    const { worker } = deps.runtime();
    const ctx: ChunkContext = {
      pool: deps.pool,
      channel,
      reason,
      // A fallback, or a replayed app message, goes out even if a gateway pushed it meanwhile (sent, not acknowledged).
      from: reason === 'send' ? ['pending'] : ['pending', 'sent'],
      maxAttempts: worker.maxAttempts,
      leaseMs: deps.leaseMs,
      claimed: deps.claimed,
      inFlight: deps.inFlight,
    };
    const outcomes = new Map<string, Outcome>();
    // The messages still to route: by the one provider that may take them ('' for any, in failover order).
    const groups = new Map<ProviderName | '', SendMessage[]>([['', uniqueById(job.data.messages)]]);
    const later = { retry: [] as SendMessage[], retryAfterMs: undefined as number | undefined, retryUsed: 0 };
    const held = {
      busy: [] as SendMessage[],
      busyMs: 0,
      open: [] as SendMessage[],
      openMs: Number.POSITIVE_INFINITY,
      left: [] as SendMessage[],
    };
    const running = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;

    const merge = (r: ChunkResult) => {
      for (const [id, outcome] of r.outcomes) outcomes.set(id, outcome);
      for (const { message, used } of r.retry) {
        later.retry.push(message);
        later.retryUsed = Math.max(later.retryUsed, used);
      }
      if (r.retryAfterMs !== undefined) later.retryAfterMs = Math.max(later.retryAfterMs ?? 0, r.retryAfterMs);
      for (const { message, waitMs } of r.busy) {
        held.busy.push(message);
        held.busyMs = Math.max(held.busyMs, waitMs);
      }
      for (const { message, pin } of r.reroute) groupOf(groups, pin ?? '').push(message);
    };

    /** Launches one chunk of `list` through `route`: claim slots first, then as many rate tokens; none granted: waits for one. */
    const start = async (route: ProviderRoute, list: SendMessage[]): Promise<void> => {
      const want = route.probe ? 1 : Math.min(list.length, CHUNK_MAX);
      const slots = await deps.claimed.acquire(Math.min(want, CHUNK_MIN), want);
      let grant: Grant = { granted: 0, waitMs: 0 };
      try {
        grant = await deps.takeTokens(route.adapter.name, slots);
      } finally {
        deps.claimed.release(slots - grant.granted);
      }
      if (grant.granted === 0) {
        if (route.probe) route.policy.probing = false;
        await sleep(grant.waitMs, undefined, { signal: deps.stopping }).catch((error: unknown) => {
          if (!deps.stopping?.aborted) throw error;
        });
        return;
      }
      const chunk = list.splice(0, grant.granted);
      const done: Promise<void> = sendChunk(ctx, route, chunk, grant.granted)
        .then(merge, (error: unknown) => {
          failure ??= { error };
        })
        .finally(() => {
          if (route.probe) route.policy.probing = false;
          running.delete(done);
        });
      running.add(done);
    };

    for (;;) {
      if (failure !== undefined || deps.stopping?.aborted) {
        if (failure === undefined) for (const list of groups.values()) held.left.push(...list.splice(0));
        if (running.size === 0) break;
        await Promise.race(running);
        continue;
      }
      let started = false;
      let blocked = false;
      for (const [pin, list] of groups) {
        if (list.length === 0) continue;
        const route = chooseRoute(deps, channel, Date.now(), pin === '' ? undefined : pin);
        if (route.kind === 'all_open') {
          blocked = true;
          if (running.size === 0) {
            held.open.push(...list.splice(0));
            held.openMs = Math.min(held.openMs, route.waitMs);
          }
          continue;
        }
        await start(route, list).catch((error: unknown) => {
          failure ??= { error };
        });
        started = true;
        break;
      }
      if (started) continue;
      if (running.size > 0) await Promise.race(running);
      else if (!blocked) break;
    }
    if (failure !== undefined) throw failure.error;

    const jobs: SendJob[] = [];
    const parent = { id: job.id!, data: job.data };
    if (later.retry.length > 0) {
      const delay =
        later.retryAfterMs !== undefined
          ? Math.max(later.retryAfterMs, MIN_RETRY_AFTER_MS)
          : cappedBackoffMs(later.retryUsed, deps.retry.baseMs, deps.retry.maxMs);
      jobs.push(laterSendJob(parent, 'retry', later.retry, delay));
    }
    if (held.open.length > 0) {
      if (job.data.waiting !== true) {
        const names = (deps.providers.get(channel) ?? []).map((a) => a.name);
        await noteProviderWait(
          deps.pool,
          held.open.map((m) => m.id),
          waitingDetail(channel, names),
        );
      }
      for (const m of held.open) outcomes.set(m.id, 'circuit_open');
      jobs.push(laterSendJob(parent, 'wait', held.open, held.openMs, true));
    }
    if (held.busy.length > 0) jobs.push(laterSendJob(parent, 'wait', held.busy, held.busyMs + BUSY_MARGIN_MS, job.data.waiting));
    if (held.left.length > 0) jobs.push(laterSendJob(parent, 'wait', held.left, 1, job.data.waiting));
    if (jobs.length > 0) await deps.queues.get(channel)!.addBulk(jobs);

    const counts = new Map<Outcome, number>();
    for (const outcome of outcomes.values()) counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    for (const [outcome, count] of counts) deps.onOutcome(channel, outcome, count);
    // The messages by id, so that a log search for one finds its line; at most
    // LOGGED_IDS of them, so that a batch of 500 dead letters is one readable line.
    const idsOf = (wanted: Outcome) => [...outcomes].filter(([, o]) => o === wanted).map(([id]) => id);
    const dead = idsOf('dead_letter');
    if (dead.length > 0)
      deps.logger.warn(
        { channel, count: dead.length, ids: dead.slice(0, LOGGED_IDS), jobId: job.id },
        'messages moved to the dead-letter queue',
      );
    const unknown = idsOf('unknown');
    if (unknown.length > 0)
      deps.logger.warn(
        { channel, count: unknown.length, ids: unknown.slice(0, LOGGED_IDS), jobId: job.id },
        'messages whose call never ended, not sent again',
      );
    return outcomes;
  };
}

function uniqueById(messages: readonly SendMessage[]): SendMessage[] {
  const seen = new Set<string>();
  return messages.filter((m) => !seen.has(m.id) && seen.add(m.id));
}

function groupOf<K, V>(groups: Map<K, V[]>, key: K): V[] {
  let list = groups.get(key);
  if (list === undefined) groups.set(key, (list = []));
  return list;
}
