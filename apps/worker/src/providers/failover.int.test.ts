import { sampleBufferedMessage, type ProviderChannel, type ProviderName, type SendJobData } from '@esh3ar/contracts';
import { createPool, createTenant, storeBatch } from '@esh3ar/db';
import { createProviderMetrics } from '@esh3ar/observability';
import { createRedis, redisKeys, sendQueues, storedSendJobs } from '@esh3ar/queue';
import { breakerStates } from '@esh3ar/queue/breaker-state';
import { DEFAULT_RUNTIME_CONFIG, type RuntimeConfig } from '@esh3ar/runtime';
import {
  createDatabase,
  deletePrefix,
  send,
  startApp,
  uniquePrefix,
  uuidv7,
  waitFor,
  type AppProcess,
  type ThrowawayDatabase,
} from '@esh3ar/stack';
import type { Job, Queue } from 'bullmq';
import { CircuitState } from 'cockatiel';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeProvider } from '../fake-provider.test-kit.ts';
import type { ProviderAdapter } from './adapters/adapter.ts';
import { createSimAdapter } from './adapters/sim.ts';
import { createTwilioAdapter } from './adapters/twilio.ts';
import { ProviderBreakers } from './breakers.ts';
import { chooseRoute } from './failover.ts';
import { inFlightLimit } from './in-flight.ts';
import { sendProcessor } from './send-processor.ts';

/**
 * SMS_PROVIDER=sim,twilio in-process, through the real send processor, SQL, breakers and
 * shared breaker state: provider-sim's protocol answered by a FakeProvider the test steers,
 * Twilio's by provider-sim. Time is cockatiel's: the half-open delay is a minute, passed by
 * moving Date forward, so that nothing depends on how fast this machine runs.
 */
const SID = `AC${'1f'.repeat(16)}`;
const TOKEN = 'failover-test-token';
const HALF_OPEN_AFTER_MS = 60_000;
const PROVIDERS: Record<ProviderChannel, readonly ProviderName[]> = { sms: ['sim', 'twilio'], whatsapp: ['sim'], email: ['sim'] };
const runtime: RuntimeConfig = {
  ...DEFAULT_RUNTIME_CONFIG,
  breaker: { ...DEFAULT_RUNTIME_CONFIG.breaker, failureThreshold: 2, halfOpenAfterMs: HALF_OPEN_AFTER_MS },
  worker: { ...DEFAULT_RUNTIME_CONFIG.worker, maxAttempts: 100 },
};
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const queuePrefix = uniquePrefix('failover');

let db: ThrowawayDatabase;
let pool: pg.Pool;
let redis: Redis;
let queues: Map<ProviderChannel, Queue<SendJobData>>;
let tenantId: string;
let fake: FakeProvider;
let sim: AppProcess;
let adapters: ProviderAdapter[];
const workers: { breakers: ProviderBreakers; prefix: string }[] = [];

/** One worker's send processor and breakers, sharing breaker state with the others under `prefix`. */
function worker(prefix: string) {
  const breakers = new ProviderBreakers({
    redis,
    prefix,
    logger: pino({ level: 'silent' }),
    metrics: createProviderMetrics(new Registry()),
    runtime: () => runtime,
    timeoutMs: 5000,
    providers: PROVIDERS,
  });
  workers.push({ breakers, prefix });
  const [simAdapter, twilio] = adapters as [ProviderAdapter, ProviderAdapter];
  const processor = sendProcessor({
    pool,
    logger: pino({ level: 'silent' }),
    providers: new Map([
      ['sms', [simAdapter, twilio]],
      ['whatsapp', [simAdapter]],
      ['email', [simAdapter]],
    ]),
    policy: (channel, provider) => breakers.policy(channel, provider),
    sharedOpenUntil: (channel, provider) => breakers.sharedOpenUntil(channel, provider),
    probeAfter: (channel, provider) => breakers.probeAfter(channel, provider),
    runtime: () => runtime,
    queues,
    claimed: inFlightLimit(128),
    inFlight: inFlightLimit(64),
    takeTokens: async (_provider, want) => ({ granted: want, waitMs: 0 }),
    onOutcome: () => undefined,
    leaseMs: 30_000,
    retry: { baseMs: 1000, maxMs: 1000 },
  });
  /** The outcome of each of the job's messages ('retry': a later job of its own would send it again). */
  const runAll = (job: Job<SendJobData>) => processor(job);
  /** The outcome of a job of one message. */
  const run = async (job: Job<SendJobData>) => (await processor(job)).get(messageOf(job).id);
  return { breakers, run, runAll, simBreaker: () => breakers.policy('sms', 'sim').breaker };
}

/** The one message of a job of one. */
const messageOf = (job: Job<SendJobData>) => job.data.messages[0]!;

/** `count` sms messages stored as one batch, in one send job, as the worker's afterStore adds them. */
async function storeSmsBatch(count: number): Promise<Job<SendJobData>> {
  const messages = Array.from({ length: count }, () => {
    const id = uuidv7();
    return sampleBufferedMessage({ id, tenantId, recipient: '+966501234567', channel: 'sms', content: `message ${id}` });
  });
  await storeBatch(
    pool,
    messages.map((message) => ({ message, state: { status: 'pending', failureReason: null } })),
  );
  const [added] = await queues.get('sms')!.addBulk(storedSendJobs(messages, Date.now()).get('sms')!);
  return added!;
}

const storeSms = () => storeSmsBatch(1);

async function row(job: Job<SendJobData>) {
  const { rows } = await pool.query<{ status: string; provider: string | null; provider_message_id: string | null }>(
    'SELECT status, provider, provider_message_id FROM messages WHERE id = $1',
    [messageOf(job).id],
  );
  const events = await pool.query<{ detail: string | null }>('SELECT detail FROM message_events WHERE message_id = $1 ORDER BY id', [
    messageOf(job).id,
  ]);
  return { ...rows[0]!, lastDetail: events.rows.at(-1)?.detail ?? null };
}

/** Calls the FakeProvider (provider-sim's protocol) got for this message, and the messages Twilio's stand-in accepted with its text. */
const simCalls = (job: Job<SendJobData>) => fake.calls.filter((c) => c.idempotencyKey === messageOf(job).id).length;
async function twilioCopies(job: Job<SendJobData>): Promise<number> {
  const items = (await send(sim.url, null, 'GET', '/received')).body.items as { text: string }[];
  return items.filter((i) => i.text === messageOf(job).content).length;
}

/** The message was sent exactly once, by `provider`, and the row and its history say so. */
async function expectSentBy(job: Job<SendJobData>, provider: ProviderName, failedSimCalls = 0): Promise<void> {
  const r = await row(job);
  expect(r.status).toBe('sent');
  expect(r.provider).toBe(provider);
  expect(r.provider_message_id).toMatch(provider === 'sim' ? /^fake_/ : /^SM[0-9a-f]{32}$/);
  expect(r.lastDetail).toBe(`accepted by the sms provider ${provider} (${r.provider_message_id})`);
  expect(simCalls(job)).toBe(failedSimCalls + (provider === 'sim' ? 1 : 0));
  expect(await twilioCopies(job)).toBe(provider === 'twilio' ? 1 : 0);
}

/** Moves cockatiel's clock (Date) past the half-open delay of a breaker that opened now. */
const passHalfOpenDelay = () => vi.setSystemTime(Date.now() + HALF_OPEN_AFTER_MS + 1);

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'failover');
  pool = createPool(db.url, { max: 4, applicationName: 'failover-test' });
  pool.on('error', () => undefined); // the teardown drops the database WITH (FORCE)
  redis = createRedis(redisUrl, { name: 'failover-test', failFast: false });
  await redis.connect();
  queues = sendQueues(redis, redisKeys(queuePrefix));
  ({
    tenant: { id: tenantId },
  } = await createTenant(pool, { name: 'failover', tier: 'enterprise' }));
  fake = new FakeProvider();
  await fake.start();
  sim = await startApp('provider-sim', {
    PROVIDER_SIM_PORT: '0',
    PROVIDER_SIM_TWILIO_ACCOUNT_SID: SID,
    PROVIDER_SIM_TWILIO_AUTH_TOKEN: TOKEN,
  });
  const logger = pino({ level: 'silent' });
  adapters = [
    createSimAdapter(fake.url, 4),
    createTwilioAdapter(
      { accountSid: SID, authToken: TOKEN, from: '+15017122661', whatsappFrom: null, baseUrl: sim.url },
      { statusCallbackUrl: null, connections: 4, logger },
    ),
  ];
});

afterAll(async () => {
  await Promise.allSettled(adapters?.map((a) => a.close()) ?? []);
  await Promise.allSettled([...(queues?.values() ?? [])].map((q) => q.close()));
  redis?.disconnect();
  await deletePrefix(redisUrl, queuePrefix);
  await fake?.stop();
  await sim?.stop();
  await pool?.end();
  await db?.drop();
});

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
  fake.answer = 'accept';
});

afterEach(async () => {
  vi.useRealTimers();
  fake.release();
  for (const { breakers, prefix } of workers.splice(0)) {
    breakers.close();
    await deletePrefix(redisUrl, prefix);
  }
});

describe('SMS_PROVIDER=sim,twilio', () => {
  it('fails over while the first breaker is open and returns only once its half-open probe succeeded', async () => {
    const w = worker(uniquePrefix('failover-breakers'));

    // sim fails twice: its breaker opens (failureThreshold 2). Each failure is an attempt, not a failover.
    fake.answer = 'unavailable';
    const [m1, m2] = [await storeSms(), await storeSms()];
    expect([await w.run(m1), await w.run(m2)]).toEqual(['retry', 'retry']);
    expect(w.simBreaker().state).toBe(CircuitState.Open);

    // While it is open, twilio takes new messages and the retries, and sim is not called.
    const m3 = await storeSms();
    expect([await w.run(m3), await w.run(m1)]).toEqual(['sent', 'sent']);
    await expectSentBy(m3, 'twilio');
    await expectSentBy(m1, 'twilio', 1);

    // sim has recovered, but its breaker has not probed yet: still twilio.
    fake.answer = 'accept';
    const m4 = await storeSms();
    expect(await w.run(m4)).toBe('sent');
    await expectSentBy(m4, 'twilio');

    // The delay passed: the next message is the probe. While it is in flight, others keep going to twilio.
    passHalfOpenDelay();
    fake.hold();
    const [probe, during] = [await storeSms(), await storeSms()];
    const probing = w.run(probe);
    await fake.nextCall();
    expect(w.simBreaker().state).toBe(CircuitState.HalfOpen);
    expect(await w.run(during)).toBe('sent');
    await expectSentBy(during, 'twilio');
    fake.release();
    expect(await probing).toBe('sent');
    await expectSentBy(probe, 'sim');

    // The probe succeeded: sim takes the traffic again, m2's retry included.
    expect(w.simBreaker().state).toBe(CircuitState.Closed);
    const m5 = await storeSms();
    expect([await w.run(m5), await w.run(m2)]).toEqual(['sent', 'sent']);
    await expectSentBy(m5, 'sim');
    await expectSentBy(m2, 'sim', 1);
  });

  it('a failed probe opens the breaker again, and twilio keeps the traffic', async () => {
    const w = worker(uniquePrefix('failover-breakers'));
    fake.answer = 'unavailable';
    const [m1, m2] = [await storeSms(), await storeSms()];
    expect([await w.run(m1), await w.run(m2)]).toEqual(['retry', 'retry']);

    passHalfOpenDelay();
    const probe = await storeSms();
    expect(await w.run(probe)).toBe('retry');
    expect(w.simBreaker().state).toBe(CircuitState.Open);
    expect(simCalls(probe)).toBe(1);

    const after = await storeSms();
    expect([await w.run(after), await w.run(probe)]).toEqual(['sent', 'sent']);
    await expectSentBy(after, 'twilio');
    await expectSentBy(probe, 'twilio', 1);
  });

  it('a batch: its calls open the breaker, its retry goes to twilio, and later one message probes sim while the rest of a batch goes to twilio', async () => {
    const w = worker(uniquePrefix('failover-breakers'));
    fake.answer = 'unavailable';
    const failing = await storeSmsBatch(5);
    expect(new Set((await w.runAll(failing)).values())).toEqual(new Set(['retry']));
    expect(w.simBreaker().state).toBe(CircuitState.Open);

    // The retry is a later job of its own, with the same messages: all to twilio while sim's breaker is open.
    const ids = failing.data.messages.map((m) => m.id);
    const [retry] = (await queues.get('sms')!.getJobs(['delayed'])).filter(
      (j) => j.id!.startsWith('retry-') && ids.includes(j.data.messages[0]!.id),
    );
    expect(retry!.data.messages.map((m) => m.id).sort()).toEqual([...ids].sort());
    expect(new Set((await w.runAll(retry!)).values())).toEqual(new Set(['sent']));
    const sentBy = async (job: Job<SendJobData>) => {
      const { rows } = await pool.query<{ provider: string }>('SELECT provider FROM messages WHERE id = ANY($1) ORDER BY id', [
        job.data.messages.map((m) => m.id),
      ]);
      return rows.map((r) => r.provider);
    };
    expect(await sentBy(failing)).toEqual(Array(5).fill('twilio'));

    // The delay passed: the batch's first message is the probe; the others go to twilio while it is held.
    passHalfOpenDelay();
    fake.answer = 'accept';
    fake.hold();
    const batch = await storeSmsBatch(5);
    const probing = w.runAll(batch);
    await fake.nextCall();
    expect(w.simBreaker().state).toBe(CircuitState.HalfOpen);
    const others = batch.data.messages.slice(1);
    await vi.waitFor(async () => {
      const items = (await send(sim.url, null, 'GET', '/received')).body.items as { text: string }[];
      expect(others.map((m) => items.filter((i) => i.text === m.content).length)).toEqual([1, 1, 1, 1]);
    });
    fake.release();
    expect(new Set((await probing).values())).toEqual(new Set(['sent']));
    expect(simCalls(batch)).toBe(1);
    const { rows } = await pool.query<{ id: string; provider: string }>('SELECT id, provider FROM messages WHERE id = ANY($1)', [
      batch.data.messages.map((m) => m.id),
    ]);
    expect(Object.fromEntries(rows.map((r) => [r.id, r.provider]))).toEqual(
      Object.fromEntries(batch.data.messages.map((m, i) => [m.id, i === 0 ? 'sim' : 'twilio'])),
    );

    // The probe succeeded: a whole batch goes to sim again.
    expect(w.simBreaker().state).toBe(CircuitState.Closed);
    const after = await storeSmsBatch(5);
    expect(new Set((await w.runAll(after)).values())).toEqual(new Set(['sent']));
    expect(await sentBy(after)).toEqual(Array(5).fill('sim'));
  });

  it("another worker's open breaker, shared through Redis, moves this worker's messages to twilio too", async () => {
    const prefix = uniquePrefix('failover-breakers');
    const [a, b] = [worker(prefix), worker(prefix)];
    fake.answer = 'unavailable';
    expect([await a.run(await storeSms()), await a.run(await storeSms())]).toEqual(['retry', 'retry']);
    expect(a.simBreaker().state).toBe(CircuitState.Open);
    await waitFor(
      async () => b.breakers.sharedOpenUntil('sms', 'sim'),
      (until) => until > Date.now(),
    );
    expect(b.breakers.states()).toMatchObject({ sms: 'open', 'sms:sim': 'open', 'sms:twilio': 'closed', whatsapp: 'closed' });
    // As the api's readiness reports it, from Redis alone.
    expect(await breakerStates(redis, prefix)).toEqual({ sms: 'open', 'sms:sim': 'open', whatsapp: 'closed', email: 'closed' });

    fake.answer = 'accept';
    const m = await storeSms();
    expect(await b.run(m)).toBe('sent');
    await expectSentBy(m, 'twilio');
    expect(b.simBreaker().state).toBe(CircuitState.Closed);
  });

  it("once another worker's open breaker lapses, this worker probes it with one call before it sends a chunk there again", async () => {
    const prefix = uniquePrefix('failover-lapse');
    const [a, b] = [worker(prefix), worker(prefix)];
    fake.answer = 'unavailable';
    expect([await a.run(await storeSms()), await a.run(await storeSms())]).toEqual(['retry', 'retry']);
    const until = await waitFor(
      async () => b.breakers.probeAfter('sms', 'sim'),
      (t) => t !== undefined && t > Date.now(),
    );
    const deps = {
      providers: new Map([['sms', adapters] as const]),
      policy: (channel: ProviderChannel, provider: ProviderName) => b.breakers.policy(channel, provider),
      sharedOpenUntil: (channel: ProviderChannel, provider: ProviderName) => b.breakers.sharedOpenUntil(channel, provider),
      probeAfter: (channel: ProviderChannel, provider: ProviderName) => b.breakers.probeAfter(channel, provider),
    };
    const via = (route: ReturnType<typeof chooseRoute>) => (route.kind === 'provider' ? [route.adapter.name, route.probe] : [route.kind]);
    expect(via(chooseRoute(deps, 'sms', Date.now()))).toEqual(['twilio', false]);
    // Lapsed: b's own breaker, which made no call, is closed; one call probes sim, the rest go on to twilio meanwhile.
    const lapsed = until! + 1;
    expect(b.simBreaker().state).toBe(CircuitState.Closed);
    const probe = chooseRoute(deps, 'sms', lapsed);
    expect(via(probe)).toEqual(['sim', true]);
    expect(via(chooseRoute(deps, 'sms', lapsed))).toEqual(['twilio', false]);
    // The probe succeeds: sim takes the traffic again.
    if (probe.kind === 'provider') probe.policy.probing = false;
    await b.simBreaker().execute(async () => 'accepted');
    expect(b.breakers.probeAfter('sms', 'sim')).toBeUndefined();
    expect(via(chooseRoute(deps, 'sms', lapsed))).toEqual(['sim', false]);
  });
});
