import { sampleBufferedMessage, type BufferedMessage, type ProviderChannel, type SendJobData } from '@esh3ar/contracts';
import {
  claimProviderCall,
  createPool,
  createTenant,
  expireDue,
  markDelivered,
  markSent,
  replayDeadLetters,
  setTenantWebhook,
  settledMessages,
  storeBatch,
} from '@esh3ar/db';
import { createRedis, enqueueReplays, redisKeys, sendQueues, storedSendJobs } from '@esh3ar/queue';
import { createDatabase, deletePrefix, uniquePrefix, uuidv7, type ThrowawayDatabase } from '@esh3ar/stack';
import type { Job, Queue } from 'bullmq';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider, inProcessSendProcessor, type Answer } from './fake-provider.test-kit.ts';

/**
 * Model-based test of a message's status graph: fast-check runs random sequences of what
 * the system does to messages (store, gateway push, acks, ack timeouts, TTL sweeps,
 * provider answers, fallback timers, DLQ replays) through the real SQL and the real send
 * processor, in-process, against a throwaway database and a Redis prefix of its own.
 * After every step, every message's status and events must have moved along the graph
 * below, match what the model predicts, and reach the webhook outbox in the same order.
 */

type Status = 'pending' | 'sent' | 'delivered' | 'failed' | 'dead_letter' | 'expired';

/**
 * The documented graph (migration 0006 enforces it), written out
 * here again on purpose: the test's own statement of it, not a copy of the code's. `queued` is never an event row (it is the
 * message's created_at), so a stored message's history starts at `pending`.
 * dead_letter → pending is the operator's DLQ replay, the one sanctioned edge back.
 */
const LEGAL: Record<Status, readonly Status[]> = {
  pending: ['sent', 'delivered', 'failed', 'dead_letter', 'expired'],
  sent: ['delivered', 'failed', 'dead_letter', 'expired'],
  delivered: [],
  failed: [],
  dead_letter: ['pending'],
  expired: [],
};
/** A repeated status is a note, not a move: an attempt that failed (pending), a fallback sent by SMS after a push (sent). */
const NOTES = new Set<Status>(['pending', 'sent']);
/** The statuses a sender's webhook is told about (migration 0005). */
const WEBHOOK_STATUSES = new Set<string>(['sent', 'delivered', 'failed', 'dead_letter', 'expired']);

const MAX_ATTEMPTS = 2;
const PHONES = ['+966500000001', '+966500000002'] as const;
const FALLBACK_AFTER_SECONDS = 3600;
const TTL_SECONDS = 86_400;

interface ModelMessage {
  id: string;
  message: BufferedMessage;
  status: Status;
  ttlPassed: boolean;
  /** Handed to a provider (accepted): its TTL is the provider's validity period from then on. */
  handed: boolean;
  /** Pushed by a gateway at least once: the gateway awaits its ack. */
  pushed: boolean;
  /** Provider attempts since the last replay. */
  used: number;
  /** The send job waiting in BullMQ for this message, by reason. */
  job: SendJobData['reason'] | null;
}

interface Model {
  messages: ModelMessage[];
}

let db: ThrowawayDatabase;
let pool: pg.Pool;
let redis: Redis;
let queues: Map<ProviderChannel, Queue<SendJobData>>;
let provider: FakeProvider;
let tenantId: string;
const prefix = uniquePrefix('status-graph');
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
let processor: ReturnType<typeof inProcessSendProcessor>;

/** Where a message's provider jobs go: its own channel, or its fallback's (none: an app message without one). */
const jobChannel = (m: BufferedMessage): ProviderChannel | null =>
  m.channel === 'app' ? (m.fallback as ProviderChannel | null) : m.channel;

async function jobsOf(m: BufferedMessage): Promise<Job<SendJobData>[]> {
  const channel = jobChannel(m);
  if (channel === null) return [];
  const jobs = await queues.get(channel)!.getJobs(['waiting', 'prioritized', 'delayed']);
  return jobs.filter((j) => j.data.messages.some((x) => x.id === m.id));
}

/** As POST /v1/admin/dlq/replay and `esh3ar dlq replay` do. */
async function replay(ids: string[]): Promise<void> {
  await replayDeadLetters(pool, ids, (messages) => enqueueReplays(queues, messages));
}

/** What the database and the queues hold, checked against the graph, the outbox and the model. */
async function verify(model: Model): Promise<void> {
  const ids = model.messages.map((m) => m.id);
  if (ids.length === 0) return;
  type Event = { message_id: string; status: Status; at: Date; detail: string | null };
  const rows = await pool.query<{ id: string; status: Status; provider_message_id: string | null }>(
    'SELECT id, status, provider_message_id FROM messages WHERE id = ANY($1)',
    [ids],
  );
  const events = await pool.query<Event>(
    'SELECT message_id, status, at, detail FROM message_events WHERE message_id = ANY($1) ORDER BY id',
    [ids],
  );
  const outbox = await pool.query<Event>(
    'SELECT message_id, status, at, detail FROM webhook_outbox WHERE message_id = ANY($1) ORDER BY id',
    [ids],
  );
  const waiting = (await Promise.all([...queues.values()].map((q) => q.getJobs(['waiting', 'prioritized', 'delayed'])))).flat();
  const told = (e: Event) => `${e.status} at ${e.at.toISOString()}: ${e.detail}`;
  for (const m of model.messages) {
    const row = rows.rows.find((r) => r.id === m.id)!;
    const own = events.rows.filter((e) => e.message_id === m.id);
    const path: Status[] = ['pending', ...own.map((e) => e.status)];
    const label = `${m.message.channel}${m.message.fallback ? `+${m.message.fallback}` : ''} ${m.id}: ${path.join(' → ')}`;
    for (let i = 1; i < path.length; i++) {
      const [from, to] = [path[i - 1]!, path[i]!];
      if (from === to) expect(NOTES.has(from), `${label}: a repeated ${from} event`).toBe(true);
      else expect(LEGAL[from], `${label}: ${from} → ${to} is not on the graph`).toContain(to);
    }
    expect(row.status, `${label}: the row's status is its last event's`).toBe(path.at(-1));
    if (row.provider_message_id !== null) expect(path, `${label}: handed to a provider, then expired`).not.toContain('expired');
    expect(
      outbox.rows.filter((o) => o.message_id === m.id).map(told),
      `${label}: the webhook outbox holds its events, in their order`,
    ).toEqual(own.filter((e) => WEBHOOK_STATUSES.has(e.status)).map(told));
    expect(row.status, `${label}: the model's status`).toBe(m.status);
    const jobs = waiting.filter((j) => j.data.messages.some((x) => x.id === m.id));
    expect(
      jobs.map((j) => j.data.reason),
      `${label}: the jobs waiting for it`,
    ).toEqual(m.job === null ? [] : [m.job]);
  }
}

/** A command acts on the n-th message (modulo) among those it can apply to; it is not run when there is none. */
const candidates = (model: Readonly<Model>, applies: (m: ModelMessage) => boolean) => model.messages.filter(applies);
const pick = (model: Readonly<Model>, n: number, applies: (m: ModelMessage) => boolean = () => true): ModelMessage => {
  const list = candidates(model, applies);
  return list[n % list.length]!;
};

type Kind = 'sms' | 'app' | 'app+fallback';
type Command = fc.AsyncCommand<Model, object>;
const hasMessages = (model: Readonly<Model>) => model.messages.length > 0;
const isApp = (m: ModelMessage) => m.message.channel === 'app';
const wasPushed = (m: ModelMessage) => m.pushed;
const ttlRunning = (m: ModelMessage) => m.message.ttlSeconds !== null && !m.ttlPassed;
const hasSendJob = (m: ModelMessage) => m.job === 'send' || m.job === 'replay';
const hasFallbackJob = (m: ModelMessage) => m.job === 'fallback';
const isDeadLetter = (m: ModelMessage) => m.status === 'dead_letter';

function store(kind: Kind, ttl: boolean, phone: number): Command {
  return {
    check: () => true,
    async run(model) {
      const message = sampleBufferedMessage({
        id: uuidv7(),
        tenantId,
        recipient: PHONES[phone]!,
        channel: kind === 'sms' ? 'sms' : 'app',
        fallback: kind === 'app+fallback' ? 'sms' : null,
        fallbackAfterSeconds: kind === 'app+fallback' ? FALLBACK_AFTER_SECONDS : null,
        ttlSeconds: ttl ? TTL_SECONDS : null,
      });
      await storeBatch(pool, [{ message, state: { status: 'pending', failureReason: null } }]);
      // As the worker's afterStore does (enqueueStored in providers/send-producer.ts).
      for (const [channel, jobs] of storedSendJobs([message], Date.now())) await queues.get(channel)!.addBulk(jobs);
      const job = kind === 'app' ? null : kind === 'sms' ? 'send' : 'fallback';
      model.messages.push({ id: message.id, message, status: 'pending', ttlPassed: false, handed: false, pushed: false, used: 0, job });
      await verify(model);
    },
    toString: () => `store(${kind}${ttl ? ', ttl' : ''}, phone ${phone})`,
  };
}

/** A gateway pushed an app message to a connected device. */
function push(n: number): Command {
  return {
    check: (model) => candidates(model, isApp).length > 0,
    async run(model) {
      const m = pick(model, n, isApp);
      await markSent(pool, [m.id], 'pushed by gateway g1');
      m.pushed = true;
      if (m.status === 'pending') m.status = 'sent';
      await verify(model);
    },
    toString: () => `push(#${n})`,
  };
}

/** A device acknowledged an id: from the message's phone, or from another phone (which must change nothing). */
function ack(n: number, rightPhone: boolean): Command {
  return {
    check: hasMessages,
    async run(model) {
      const m = pick(model, n);
      const other = PHONES.find((p) => p !== m.message.recipient)!;
      await markDelivered(pool, [{ id: m.id, recipient: rightPhone ? m.message.recipient : other, at: new Date() }]);
      if (rightPhone && m.message.channel === 'app' && (m.status === 'pending' || m.status === 'sent')) m.status = 'delivered';
      await verify(model);
    },
    toString: () => `ack(#${n}, ${rightPhone ? 'its phone' : 'another phone'})`,
  };
}

/** The gateway's ack timeout passed: it pushes again what is not settled (gateway/device-hub retryUnacknowledged). */
function ackTimeout(n: number): Command {
  return {
    check: (model) => candidates(model, wasPushed).length > 0,
    async run(model) {
      const m = pick(model, n, wasPushed);
      const settled = await settledMessages(pool, [m.id]);
      const expectSettled = !(m.status === 'pending' || m.status === 'sent') || m.handed;
      expect(settled.has(m.id), `settled(${m.status}${m.handed ? ', handed' : ''})`).toBe(expectSettled);
      if (!settled.has(m.id)) {
        await markSent(pool, [m.id], 'pushed again by gateway g1');
        if (m.status === 'pending') m.status = 'sent';
      }
      await verify(model);
    },
    toString: () => `ack timeout(#${n})`,
  };
}

/** Time passes beyond a message's TTL: its expires_at is moved into the past instead of sleeping. */
function ttlPasses(n: number): Command {
  return {
    check: (model) => candidates(model, ttlRunning).length > 0,
    async run(model) {
      const m = pick(model, n, ttlRunning);
      await pool.query("UPDATE messages SET expires_at = now() - interval '1 second' WHERE id = $1", [m.id]);
      m.ttlPassed = true;
      await verify(model);
    },
    toString: () => `ttl passes(#${n})`,
  };
}

/** The expiry sweep (dispatch/expiry-sweeper). */
const sweep: Command = {
  check: () => true,
  async run(model) {
    const expired = new Set(await expireDue(pool, 5000));
    for (const m of model.messages) {
      // Not confirmed and not handed to a provider: an app message pushed but never acked may expire.
      const expires = m.ttlPassed && !m.handed && (m.status === 'pending' || (m.status === 'sent' && m.message.channel === 'app'));
      expect(expired.has(m.id), `sweep of ${m.id} (${m.status}${m.handed ? ', handed' : ''})`).toBe(expires);
      if (expires) m.status = 'expired';
    }
    await verify(model);
  },
  toString: () => 'expiry sweep',
};

/** The message's waiting send job runs and the provider gives `answer` (if it is called at all). */
async function runJob(model: Model, m: ModelMessage, answer: Answer): Promise<void> {
  const [job] = await jobsOf(m.message);
  expect(job, `a job for ${m.id}`).toBeDefined();
  if ((await job!.getState()) === 'delayed') await job!.promote();
  provider.answer = answer;
  const callsBefore = provider.calls.length;
  const outcome = (await processor(job!)).get(m.id);
  // BullMQ removes a completed job (removeOnComplete); a retry is a later job of its own.
  await job!.remove();
  expect(outcome, `the outcome of ${m.id}`).toBeDefined();

  const from: Status[] = m.job === 'send' ? ['pending'] : ['pending', 'sent'];
  const eligible = from.includes(m.status) && !m.handed && !m.ttlPassed;
  expect(provider.calls.length - callsBefore, `provider calls for ${m.id} (${m.status})`).toBe(eligible ? 1 : 0);
  if (!eligible) {
    m.job = null;
  } else if (answer === 'accept') {
    [m.status, m.handed, m.job] = ['sent', true, null];
  } else if (answer === 'refuse') {
    [m.status, m.job] = ['failed', null];
  } else if (++m.used >= MAX_ATTEMPTS) {
    [m.status, m.job] = ['dead_letter', null];
  }
  await verify(model);
}

// Transient failures twice as often as each of the others: dead letters (two in a row) and their replay come up in most runs.
const answer = fc.constantFrom<Answer>('accept', 'refuse', 'unavailable', 'unavailable');

/** A provider channel's send (or replay) job runs. */
function providerCall(n: number, answer: Answer): Command {
  return {
    check: (model) => candidates(model, hasSendJob).length > 0,
    run: (model) => runJob(model, pick(model, n, hasSendJob), answer),
    toString: () => `provider ${answer}s (#${n})`,
  };
}

/** fallbackAfterSeconds passed with no ack: the delayed fallback job runs (again, after a transient failure). */
function fallbackFires(n: number, answer: Answer): Command {
  return {
    check: (model) => candidates(model, hasFallbackJob).length > 0,
    run: (model) => runJob(model, pick(model, n, hasFallbackJob), answer),
    toString: () => `fallback timer fires, provider ${answer}s (#${n})`,
  };
}

/** An operator replays a dead letter. */
function replayCommand(n: number): Command {
  return {
    check: (model) => candidates(model, isDeadLetter).length > 0,
    async run(model) {
      const m = pick(model, n, isDeadLetter);
      await replay([m.id]);
      [m.status, m.used, m.job] = ['pending', 0, 'replay'];
      await verify(model);
    },
    toString: () => `dlq replay(#${n})`,
  };
}

const target = fc.nat({ max: 3 });
// Weighted towards the provider paths, where most of the graph's edges are.
const COMMANDS = [
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.constantFrom<Kind>('sms', 'app', 'app+fallback'), fc.boolean(), fc.nat({ max: 1 }))
        .map(([kind, ttl, phone]) => store(kind, ttl, phone)),
    },
    { weight: 2, arbitrary: target.map(push) },
    { weight: 2, arbitrary: fc.tuple(target, fc.boolean()).map(([n, right]) => ack(n, right)) },
    { weight: 1, arbitrary: target.map(ackTimeout) },
    { weight: 2, arbitrary: target.map(ttlPasses) },
    { weight: 2, arbitrary: fc.constant(sweep) },
    { weight: 4, arbitrary: fc.tuple(target, answer).map(([n, a]) => providerCall(n, a)) },
    { weight: 4, arbitrary: fc.tuple(target, answer).map(([n, a]) => fallbackFires(n, a)) },
    { weight: 2, arbitrary: target.map(replayCommand) },
  ),
];

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'status-graph');
  pool = createPool(db.url, { max: 4, applicationName: 'status-graph-test' });
  pool.on('error', () => undefined); // the teardown drops the database WITH (FORCE)
  redis = createRedis(redisUrl, { name: 'status-graph-test', failFast: false });
  await redis.connect();
  queues = sendQueues(redis, redisKeys(prefix));
  provider = new FakeProvider();
  await provider.start();
  ({
    tenant: { id: tenantId },
  } = await createTenant(pool, { name: 'status graph', tier: 'enterprise' }));
  // A webhook (never POSTed to: no dispatcher runs here) makes the outbox fill.
  await setTenantWebhook(pool, tenantId, 'http://127.0.0.1:9/status');
  processor = inProcessSendProcessor(pool, provider.url, MAX_ATTEMPTS, queues);
});

afterAll(async () => {
  await Promise.allSettled([...(queues?.values() ?? [])].map((q) => q.close()));
  redis?.disconnect();
  await deletePrefix(redisUrl, prefix);
  await provider?.stop();
  await pool?.end();
  await db?.drop();
});

async function storeSms(ttlSeconds: number | null): Promise<BufferedMessage> {
  const message = sampleBufferedMessage({ id: uuidv7(), tenantId, recipient: PHONES[0], channel: 'sms', ttlSeconds });
  await storeBatch(pool, [{ message, state: { status: 'pending', failureReason: null } }]);
  for (const [channel, jobs] of storedSendJobs([message], Date.now())) await queues.get(channel)!.addBulk(jobs);
  return message;
}

async function history(id: string): Promise<{ status: string; events: string[] }> {
  const { rows } = await pool.query<{ status: string }>('SELECT status FROM messages WHERE id = $1', [id]);
  const events = await pool.query<{ status: string }>('SELECT status FROM message_events WHERE message_id = $1 ORDER BY id', [id]);
  return { status: rows[0]!.status, events: events.rows.map((e) => e.status) };
}

describe('the status graph', () => {
  it('statuses, events and webhook events only move along the documented graph, whatever happens in whatever order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(COMMANDS, { maxCommands: 60, size: 'max' }), async (commands) => {
        await Promise.all([...queues.values()].map((q) => q.obliterate({ force: true })));
        await fc.asyncModelRun(() => ({ model: { messages: [] }, real: {} }), commands);
      }),
      // 300 sequences of ~16 steps that run: every edge of the graph is taken in each run
      // of the test, and the code before the sent → expired fix failed within 25 of them in
      // 5 tries out of 5. 14-17 s in three runs here, most of it in PostgreSQL round trips.
      { numRuns: 300 },
    );
  });

  it('the provider gets what is left of the TTL as its validity period, and nothing without a TTL', async () => {
    provider.answer = 'accept';
    const withTtl = await storeSms(3600);
    const withoutTtl = await storeSms(null);
    for (const m of [withTtl, withoutTtl]) {
      const [job] = await jobsOf(m);
      expect((await processor(job!)).get(m.id)).toBe('sent');
    }
    const body = (m: BufferedMessage) => provider.calls.find((c) => c.idempotencyKey === m.id)!.body;
    // Stored a moment ago with 3600 s: between 3590 and 3600 left, however slow this machine.
    expect(body(withTtl).validityPeriodSeconds).toBeGreaterThan(3590);
    expect(body(withTtl).validityPeriodSeconds).toBeLessThanOrEqual(3600);
    expect(body(withoutTtl)).not.toHaveProperty('validityPeriodSeconds');
  });

  it('a TTL that runs out while the provider holds the call does not expire the message: it ends sent, for good', async () => {
    provider.answer = 'accept';
    const m = await storeSms(3600);
    const [job] = await jobsOf(m);
    provider.hold();
    const arrived = provider.nextCall();
    const outcome = processor(job!);
    await arrived;
    await pool.query("UPDATE messages SET expires_at = now() - interval '1 second' WHERE id = $1", [m.id]);
    expect(await expireDue(pool, 5000)).not.toContain(m.id);
    provider.release();
    expect((await outcome).get(m.id)).toBe('sent');
    expect(await expireDue(pool, 5000)).not.toContain(m.id);
    expect(await history(m.id)).toEqual({ status: 'sent', events: ['sent'] });
  });

  it('a claim whose worker died lapses: the message may then expire, as it was never confirmed handed over', async () => {
    const m = await storeSms(3600);
    expect(await claimProviderCall(pool, m.id, ['pending'], 60_000)).not.toBeNull();
    await pool.query("UPDATE messages SET expires_at = now() - interval '1 second' WHERE id = $1", [m.id]);
    expect(await expireDue(pool, 5000)).not.toContain(m.id);
    await pool.query("UPDATE messages SET provider_call_until = now() - interval '1 second' WHERE id = $1", [m.id]);
    expect(await expireDue(pool, 5000)).toContain(m.id);
    expect(await history(m.id)).toEqual({ status: 'expired', events: ['expired'] });
  });

  it('the database refuses a move off the graph, whichever statement tries it', async () => {
    const m = await storeSms(3600);
    const [job] = await jobsOf(m);
    provider.answer = 'accept';
    expect((await processor(job!)).get(m.id)).toBe('sent');
    const move = (status: string) => pool.query('UPDATE messages SET status = $2 WHERE id = $1', [m.id, status]);
    // Handed to a provider: not expired (the bug this guards against), nor back to pending.
    await expect(move('expired')).rejects.toMatchObject({
      code: '23514',
      message: expect.stringContaining('sent → expired is not on the status graph'),
    });
    await expect(move('pending')).rejects.toMatchObject({ code: '23514' });
    await move('delivered');
    for (const status of ['sent', 'pending', 'failed', 'expired', 'dead_letter'])
      await expect(move(status)).rejects.toMatchObject({ code: '23514' });
    expect((await history(m.id)).status).toBe('delivered');
  });
});
