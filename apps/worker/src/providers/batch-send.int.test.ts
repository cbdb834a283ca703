import { sampleBufferedMessage, type ProviderChannel, type ProviderName, type SendJobData } from '@esh3ar/contracts';
import { claimProviderCalls, createPool, createTenant, storeBatch } from '@esh3ar/db';
import { createProviderMetrics } from '@esh3ar/observability';
import { createRedis, redisKeys, sendQueues, storedSendJobs } from '@esh3ar/queue';
import { DEFAULT_RUNTIME_CONFIG, type RuntimeConfig } from '@esh3ar/runtime';
import { createDatabase, deletePrefix, send, startApp, uniquePrefix, uuidv7, type AppProcess, type ThrowawayDatabase } from '@esh3ar/stack';
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeProvider, type Answer } from '../fake-provider.test-kit.ts';
import type { ProviderAdapter } from './adapters/adapter.ts';
import { createSimAdapter } from './adapters/sim.ts';
import { createTwilioAdapter } from './adapters/twilio.ts';
import { ProviderBreakers } from './breakers.ts';
import { inFlightLimit } from './in-flight.ts';
import { providerTokens, rateLimit, type TakeTokens } from './provider-rates.ts';
import { sendProcessor } from './send-processor.ts';
import { unknownDetail } from './send-outcome.ts';

/**
 * The batch send path in-process, through the real processor, SQL and breakers:
 * provider-sim's protocol answered by a FakeProvider the test steers (per recipient),
 * Twilio's by provider-sim, which, like Twilio, has no idempotency key.
 */
const SID = `AC${'2e'.repeat(16)}`;
const TOKEN = 'batch-test-token';
const MAX_ATTEMPTS = 2;
// Breakers that never open here: their routing is failover.int.test.ts's subject.
const runtime: RuntimeConfig = {
  ...DEFAULT_RUNTIME_CONFIG,
  breaker: { ...DEFAULT_RUNTIME_CONFIG.breaker, failureThreshold: 1000 },
  worker: { ...DEFAULT_RUNTIME_CONFIG.worker, maxAttempts: MAX_ATTEMPTS },
};
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('batch-send');

let db: ThrowawayDatabase;
let pool: pg.Pool;
let redis: Redis;
let queues: Map<ProviderChannel, Queue<SendJobData>>;
let tenantId: string;
let fake: FakeProvider;
let sim: AppProcess;
let simAdapter: ProviderAdapter;
let twilio: ProviderAdapter;
const breakers: ProviderBreakers[] = [];

/** A worker's send processor whose sms channel goes through `sms`, in failover order. */
function processor(sms: readonly ProviderName[], takeTokens: TakeTokens = async (_provider, want) => ({ granted: want, waitMs: 0 })) {
  const b = new ProviderBreakers({
    redis,
    prefix: uniquePrefix('batch-send-breakers'),
    logger: pino({ level: 'silent' }),
    metrics: createProviderMetrics(new Registry()),
    runtime: () => runtime,
    timeoutMs: 5000,
    providers: { sms, whatsapp: ['sim'], email: ['sim'] },
  });
  breakers.push(b);
  const adapterOf = (name: ProviderName) => (name === 'sim' ? simAdapter : twilio);
  return sendProcessor({
    pool,
    logger: pino({ level: 'silent' }),
    providers: new Map([
      ['sms', sms.map(adapterOf)],
      ['whatsapp', [simAdapter]],
      ['email', [simAdapter]],
    ]),
    policy: (channel, provider) => b.policy(channel, provider),
    sharedOpenUntil: (channel, provider) => b.sharedOpenUntil(channel, provider),
    probeAfter: (channel, provider) => b.probeAfter(channel, provider),
    runtime: () => runtime,
    queues,
    claimed: inFlightLimit(512),
    inFlight: inFlightLimit(256),
    takeTokens,
    onOutcome: () => undefined,
    leaseMs: 30_000,
    retry: { baseMs: 1000, maxMs: 1000 },
  });
}

/** Stored as one batch, and its send job as the worker's afterStore adds it. */
async function storeSmsBatch(recipients: readonly string[]): Promise<Job<SendJobData>> {
  const messages = recipients.map((recipient) => {
    const id = uuidv7();
    return sampleBufferedMessage({ id, tenantId, recipient, channel: 'sms', content: `message ${id}` });
  });
  await storeBatch(
    pool,
    messages.map((message) => ({ message, state: { status: 'pending', failureReason: null } })),
  );
  const [job] = await queues.get('sms')!.addBulk(storedSendJobs(messages, Date.now()).get('sms')!);
  return job!;
}

const idsOf = (job: Job<SendJobData>) => job.data.messages.map((m) => m.id);

async function rows(ids: readonly string[]) {
  const { rows: found } = await pool.query<{
    id: string;
    status: string;
    attempts: number;
    provider: string | null;
    provider_message_id: string | null;
    failure_reason: string | null;
    details: string[];
  }>(
    `SELECT m.id, m.status, m.attempts, m.provider, m.provider_message_id, m.failure_reason,
       ARRAY(SELECT detail FROM message_events e WHERE e.message_id = m.id ORDER BY e.id) AS details
     FROM messages m WHERE m.id = ANY($1)`,
    [ids],
  );
  return new Map(found.map((r) => [r.id, r]));
}

/** The later jobs of the sms queue that hold any of these ids. */
async function laterJobs(ids: readonly string[]): Promise<Job<SendJobData>[]> {
  const jobs = await queues.get('sms')!.getJobs(['delayed', 'waiting', 'prioritized']);
  return jobs.filter((j) => !j.id!.startsWith('send-') && j.data.messages.some((m) => ids.includes(m.id)));
}

const simCallsOf = (id: string) => fake.calls.filter((c) => c.idempotencyKey === id).length;
async function twilioCopies(content: string): Promise<number> {
  const items = (await send(sim.url, null, 'GET', '/received')).body.items as { text: string }[];
  return items.filter((i) => i.text === content).length;
}

/** A lease that lapsed with no outcome: the worker holding the calls was killed during them. */
async function claimAndDie(ids: readonly string[], provider: ProviderName): Promise<void> {
  const claims = await claimProviderCalls(pool, ids, { from: ['pending'], leaseMs: 60_000, provider, deduplicating: ['sim'] });
  expect(claims.map((c) => c.state)).toEqual(ids.map(() => 'claimed'));
  await pool.query("UPDATE messages SET provider_call_until = now() - interval '1 second' WHERE id = ANY($1)", [ids]);
}

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'batch-send');
  pool = createPool(db.url, { max: 4, applicationName: 'batch-send-test' });
  pool.on('error', () => undefined); // the teardown drops the database WITH (FORCE)
  redis = createRedis(redisUrl, { name: 'batch-send-test', failFast: false });
  await redis.connect();
  queues = sendQueues(redis, redisKeys(prefix));
  ({
    tenant: { id: tenantId },
  } = await createTenant(pool, { name: 'batch send', tier: 'enterprise' }));
  fake = new FakeProvider();
  await fake.start();
  sim = await startApp('provider-sim', {
    PROVIDER_SIM_PORT: '0',
    PROVIDER_SIM_TWILIO_ACCOUNT_SID: SID,
    PROVIDER_SIM_TWILIO_AUTH_TOKEN: TOKEN,
  });
  simAdapter = createSimAdapter(fake.url, 64);
  twilio = createTwilioAdapter(
    { accountSid: SID, authToken: TOKEN, from: '+15017122661', whatsappFrom: null, baseUrl: sim.url },
    { statusCallbackUrl: null, connections: 64, logger: pino({ level: 'silent' }) },
  );
});

afterAll(async () => {
  await Promise.allSettled([simAdapter?.close(), twilio?.close()]);
  await Promise.allSettled([...(queues?.values() ?? [])].map((q) => q.close()));
  redis?.disconnect();
  await deletePrefix(redisUrl, prefix);
  await fake?.stop();
  await sim?.stop();
  await pool?.end();
  await db?.drop();
});

beforeEach(() => {
  fake.answer = 'accept';
  fake.answerFor = null;
});

afterEach(() => {
  vi.restoreAllMocks();
  fake.release();
  for (const b of breakers.splice(0)) b.close();
});

describe('a batch job', () => {
  it('records mixed outcomes in one claim and one outcome statement, and hands the transient ones to one later job after the longest Retry-After', async () => {
    const answers: Answer[] = ['accept', 'refuse', 'unavailable', 'rate_limited', 'accept'];
    const recipients = answers.map((_, i) => `+96650100000${i}`);
    const job = await storeSmsBatch([...recipients, '+966501000009']);
    const ids = idsOf(job);
    // The last one was handed to a provider by an earlier job: not to be sent.
    await pool.query("UPDATE messages SET status = 'sent', provider_message_id = 'earlier', provider = 'sim' WHERE id = $1", [ids[5]]);
    fake.answerFor = (call) => answers[recipients.indexOf(String(call.body.to))] ?? 'accept';
    fake.retryAfterSeconds = 3;
    const query = vi.spyOn(pool, 'query');

    const outcomes = await processor(['sim'])(job);

    expect(ids.map((id) => outcomes.get(id))).toEqual(['sent', 'failed', 'retry', 'retry', 'sent', 'skipped']);
    const statements = query.mock.calls.map(([config]) => (config as { name?: string }).name);
    expect(statements.filter((name) => name === 'provider-claim')).toHaveLength(1);
    expect(statements.filter((name) => name === 'provider-outcome')).toHaveLength(1);
    expect(fake.calls.filter((c) => ids.includes(c.idempotencyKey))).toHaveLength(5);

    const r = await rows(ids);
    expect(r.get(ids[0]!)).toMatchObject({ status: 'sent', attempts: 1, provider: 'sim', provider_message_id: `fake_${ids[0]}` });
    expect(r.get(ids[0]!)!.details).toEqual([`accepted by the sms provider sim (fake_${ids[0]})`]);
    expect(r.get(ids[1]!)).toMatchObject({ status: 'failed', attempts: 1, failure_reason: expect.stringMatching(/INVALID_RECIPIENT/) });
    expect(r.get(ids[2]!)).toMatchObject({ status: 'pending', attempts: 1, provider: null, failure_reason: null });
    expect(r.get(ids[2]!)!.details).toEqual([expect.stringMatching(/^attempt failed: .*503/)]);
    expect(r.get(ids[3]!)).toMatchObject({ status: 'pending', attempts: 1 });
    expect(r.get(ids[3]!)!.details).toEqual([expect.stringMatching(/^attempt failed: .*rate-limited/)]);
    expect(r.get(ids[5]!)).toMatchObject({ status: 'sent', attempts: 0, details: [] });

    const later = await laterJobs(ids);
    expect(later).toHaveLength(1);
    expect(idsOf(later[0]!).sort()).toEqual([ids[2], ids[3]].sort());
    expect(later[0]!.opts.delay).toBe(3000);
    expect(later[0]!.data).toMatchObject({ channel: 'sms', reason: 'send' });

    // The later job: the retry budget (2) is spent, both become dead letters with their history.
    fake.answer = 'unavailable';
    fake.answerFor = null;
    const retried = await processor(['sim'])(later[0]!);
    expect([...retried.values()]).toEqual(['dead_letter', 'dead_letter']);
    const dead = await rows([ids[2]!]);
    expect(dead.get(ids[2]!)).toMatchObject({ status: 'dead_letter', attempts: 2, failure_reason: expect.stringMatching(/503/) });
    expect(dead.get(ids[2]!)!.details).toEqual([
      expect.stringMatching(/^attempt failed/),
      expect.stringMatching(/^attempt failed/),
      expect.stringMatching(/^2 attempts failed; last: .*503/),
    ]);
    expect((await laterJobs([ids[2]!, ids[3]!])).map((j) => j.id)).toEqual([later[0]!.id]);
  });

  it('run twice, one after the other or at once, sends each message once', async () => {
    const job = await storeSmsBatch(Array.from({ length: 20 }, (_, i) => `+9665020000${String(i).padStart(2, '0')}`));
    const ids = idsOf(job);
    const send = processor(['sim']);

    // At once: the second run finds every message held by the first's calls.
    fake.hold();
    const first = send(job);
    await vi.waitFor(() => expect(fake.calls.filter((c) => ids.includes(c.idempotencyKey))).toHaveLength(20));
    const second = await send(job);
    expect(new Set(second.values())).toEqual(new Set(['busy']));
    fake.release();
    expect(new Set((await first).values())).toEqual(new Set(['sent']));
    // Its later job looks again once the first run's lease has ended: nothing left to send.
    const [again] = await laterJobs(ids);
    expect(idsOf(again!).sort()).toEqual([...ids].sort());
    expect(new Set((await send(again!)).values())).toEqual(new Set(['skipped']));

    // One after the other (a job re-run after its worker died): nothing is sent twice.
    expect(new Set((await send(job)).values())).toEqual(new Set(['skipped']));
    for (const id of ids) expect(simCallsOf(id)).toBe(1);
    expect([...(await rows(ids)).values()].every((r) => r.status === 'sent' && r.attempts === 1)).toBe(true);
  });
});

describe('a provider account’s rate limit', () => {
  it('is one bucket for every worker: two processors sending 40 messages at 100/s take tokens from it, and call no message without one', async () => {
    const rates = { sim: 100, twilio: null, meta: null, smtp: null };
    // Each grant's round trip: Redis granted it (by its own clock) between asked and answered.
    const grants: { asked: number; answered: number; granted: number }[] = [];
    const shared = providerTokens(redis, uniquePrefix('batch-send-rate'), rates);
    const counted: TakeTokens = async (provider, want) => {
      const asked = Date.now();
      const grant = await shared(provider, want);
      grants.push({ asked, answered: Date.now(), granted: grant.granted });
      return grant;
    };
    const jobs = await Promise.all(
      [0, 1].map((w) => storeSmsBatch(Array.from({ length: 20 }, (_, i) => `+96650400${w}0${String(i).padStart(2, '0')}`))),
    );
    const outcomes = await Promise.all(jobs.map((job) => processor(['sim'], counted)(job)));
    expect(outcomes.flatMap((o) => [...o.values()])).toEqual(Array(40).fill('sent'));

    const ids = jobs.flatMap(idsOf);
    expect(fake.calls.filter((c) => ids.includes(c.idempotencyKey))).toHaveLength(40);
    const taken = grants.filter((g) => g.granted > 0);
    expect(taken.reduce((n, g) => n + g.granted, 0)).toBe(40);
    // A tenth of a second's worth at a time (rateLimit), so 30 of the 40 wait for the rate: ≥ 0.3 s.
    const { burst } = rateLimit(100);
    expect(Math.max(...taken.map((g) => g.granted))).toBeLessThanOrEqual(burst);
    expect(taken.at(-1)!.answered - taken[0]!.asked).toBeGreaterThanOrEqual(((40 - burst) / 100) * 1000 - 1);
  });
});

describe('a call that never ended (its worker was killed during it)', () => {
  it('through Twilio, which has no idempotency key: not called again, marked sent with the reason', async () => {
    const job = await storeSmsBatch(['+966503000001', '+966503000002']);
    const ids = idsOf(job);
    await claimAndDie(ids, 'twilio');

    const outcomes = await processor(['twilio'])(job);
    expect([...outcomes.values()]).toEqual(['unknown', 'unknown']);
    for (const m of job.data.messages) expect(await twilioCopies(m.content)).toBe(0);
    for (const r of (await rows(ids)).values()) {
      expect(r).toMatchObject({ status: 'sent', provider: 'twilio', provider_message_id: null, attempts: 1 });
      expect(r.details).toEqual([unknownDetail('twilio')]);
    }
    // For good: a later run leaves them alone.
    expect([...(await processor(['twilio'])(job)).values()]).toEqual(['skipped', 'skipped']);
    for (const m of job.data.messages) expect(await twilioCopies(m.content)).toBe(0);
  });

  it('through provider-sim, which recognises the repeat by our id: called again, there only', async () => {
    const job = await storeSmsBatch(['+966503000003', '+966503000004']);
    const ids = idsOf(job);
    await claimAndDie(ids, 'sim');

    // Twilio comes first in this worker's list, and its breaker is closed: it still gets neither.
    const outcomes = await processor(['twilio', 'sim'])(job);
    expect([...outcomes.values()]).toEqual(['sent', 'sent']);
    for (const m of job.data.messages) expect(await twilioCopies(m.content)).toBe(0);
    for (const id of ids) expect(simCallsOf(id)).toBe(1);
    for (const r of (await rows(ids)).values()) expect(r).toMatchObject({ status: 'sent', provider: 'sim' });
  });
});
