import { sampleBufferedMessage, SEND_JOB_NAME, type BufferedMessage, type ProviderChannel, type SendJobData } from '@esh3ar/contracts';
import {
  claimProviderCalls,
  createDatabase,
  createPool,
  createTenant,
  expireDue,
  setQuietHours,
  storeBatch,
  type ThrowawayDatabase,
} from '@esh3ar/db';
import { createDispatchMetrics, createProviderMetrics, createSchedulingMetrics, type SchedulingMetrics } from '@esh3ar/observability';
import { createRedis, redisKeys, sendQueues } from '@esh3ar/queue';
import { deletePrefix, uniquePrefix, waitFor } from '@esh3ar/stack';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedMessagePipeline } from '../dispatch/pipeline.ts';
import { QuietHoursCache } from './quiet-hours-cache.ts';
import { ReleaseLoop, type ReleaseLoopOptions } from './release-loop.ts';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('release-loop');
const silent = pino({ level: 'silent' });
// Never ticks by itself: these tests call round() with the clock where they want it.
const NO_TICK_MS = 3_600_000;

let db: ThrowawayDatabase;
let pool: pg.Pool;
let redis: Redis;
let queues: Map<ProviderChannel, Queue<SendJobData>>;
const loops: ReleaseLoop[] = [];

beforeAll(async () => {
  db = await createDatabase(databaseUrl, 'release-loop');
  pool = createPool(db.url, { max: 4, applicationName: 'release-loop-test' });
  redis = createRedis(redisUrl, { name: 'release-loop-test', failFast: false });
  await redis.connect();
  queues = sendQueues(redis, redisKeys(prefix));
});

afterAll(async () => {
  await Promise.allSettled(loops.map((l) => l.close()));
  await Promise.allSettled([...(queues?.values() ?? [])].map((q) => q.close()));
  redis?.disconnect();
  await pool?.end();
  await Promise.allSettled([db?.drop(), deletePrefix(redisUrl, prefix)]);
});

function pipeline() {
  const registry = new Registry();
  return storedMessagePipeline({
    redis,
    prefix,
    sendQueues: queues,
    dispatchMetrics: createDispatchMetrics(registry),
    providerMetrics: createProviderMetrics(registry),
  });
}

function loop(over: Partial<ReleaseLoopOptions> = {}): { loop: ReleaseLoop; metrics: SchedulingMetrics } {
  const metrics = createSchedulingMetrics(new Registry());
  const created = new ReleaseLoop({
    pool,
    logger: silent,
    metrics,
    pollMs: NO_TICK_MS,
    batchSize: () => 1000,
    quietHoursOf: () => undefined,
    dispatch: pipeline(),
    ...over,
  });
  loops.push(created);
  return { loop: created, metrics };
}

/** Stores messages as scheduled for `sendAt` (held for `heldReason` when given), as the batcher would. */
async function storeScheduled(messages: BufferedMessage[], sendAt: (m: BufferedMessage) => string, heldReason: string | null = null) {
  const result = await storeBatch(
    pool,
    messages.map((message) => ({
      message,
      state: { status: 'scheduled' as const, failureReason: null, sendAt: sendAt(message), heldReason },
    })),
  );
  expect(result.inserted).toBe(messages.length);
}

async function rowsOf(ids: string[]) {
  const { rows } = await pool.query<{ id: string; status: string; send_at: Date; held_reason: string | null }>(
    'SELECT id, status, send_at, held_reason FROM messages WHERE id = ANY($1::uuid[])',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r]));
}

async function eventsOf(ids: string[]) {
  const { rows } = await pool.query<{ message_id: string; status: string; detail: string | null; at: Date }>(
    'SELECT message_id, status, detail, at FROM message_events WHERE message_id = ANY($1::uuid[]) ORDER BY id',
    [ids],
  );
  return rows;
}

const tenantId = () => sampleBufferedMessage().tenantId;

describe('the release loop', () => {
  it('releases nothing before its sendAt and everything at it, with its send job and a fallback timed from the release', async () => {
    const tenant = tenantId();
    const sendAt = new Date(Date.now() + 3_600_000); // an hour ahead: only the test's clock reaches it
    const sms = sampleBufferedMessage({ tenantId: tenant, channel: 'sms' });
    const app = sampleBufferedMessage({ tenantId: tenant, channel: 'app', fallback: 'sms', fallbackAfterSeconds: 30 });
    await storeScheduled([sms, app], () => sendAt.toISOString());
    let clock = new Date(sendAt.getTime() - 1);
    const { loop: releaser, metrics } = loop({ clock: () => clock });

    expect((await releaser.round()).taken).toBe(0);
    expect([...(await rowsOf([sms.id, app.id])).values()].map((r) => r.status)).toEqual(['scheduled', 'scheduled']);

    clock = sendAt;
    const round = await releaser.round();
    expect(round.released.map((d) => d.message.id).sort()).toEqual([sms.id, app.id].sort());
    expect([...(await rowsOf([sms.id, app.id])).values()].map((r) => r.status)).toEqual(['pending', 'pending']);
    const events = await eventsOf([sms.id, app.id]);
    expect(events.map((e) => [e.status, e.detail])).toEqual([
      ['pending', 'released at its sendAt'],
      ['pending', 'released at its sendAt'],
    ]);
    expect((await metrics.released.get()).values.find((v) => v.labels.outcome === 'released')?.value).toBe(2);

    const jobs = await queues.get('sms')!.getJobs(['waiting', 'prioritized', 'delayed']);
    const jobOf = (id: string) => jobs.find((j) => j.data.messages.some((m) => m.id === id));
    expect(jobOf(sms.id)?.data.reason).toBe('send');
    // The fallback counts from the release (sendAt + 30 s, to the end of that second), not from acceptance.
    const fallback = jobOf(app.id)!;
    expect(fallback.data.reason).toBe('fallback');
    expect(fallback.timestamp + fallback.delay).toBeGreaterThanOrEqual(sendAt.getTime() + 30_000);
    // (The job's timestamp is taken a moment after its delay was: a few ms of slack.)
    expect(fallback.timestamp + fallback.delay).toBeLessThan(sendAt.getTime() + 32_000);

    // Released once: another round finds nothing.
    expect((await releaser.round()).taken).toBe(0);
  });

  it('takes critical first, then high, normal and low, the oldest sendAt first within each', async () => {
    const tenant = tenantId();
    const base = Date.now() + 7_200_000;
    const priorities = ['low', 'critical', 'normal', 'high', 'low', 'critical', 'normal', 'high', 'normal', 'low'] as const;
    const messages = priorities.map((priority, i) => ({
      message: sampleBufferedMessage({ tenantId: tenant, channel: 'app', priority, recipient: `+96650000${String(i).padStart(4, '0')}` }),
      // Later rows due earlier: order by sendAt must not be order of insertion.
      sendAt: new Date(base - i * 1000).toISOString(),
    }));
    const sendAtOf = new Map(messages.map((m) => [m.message.id, m.sendAt]));
    await storeScheduled(
      messages.map((m) => m.message),
      (m) => sendAtOf.get(m.id)!,
    );
    const rank = { critical: 0, high: 1, normal: 2, low: 3 };
    const expected = [...messages]
      .sort((a, b) => rank[a.message.priority] - rank[b.message.priority] || a.sendAt.localeCompare(b.sendAt))
      .map((m) => m.message.id);

    const { loop: releaser } = loop({ clock: () => new Date(base), batchSize: () => 3 });
    const order: string[] = [];
    for (;;) {
      const round = await releaser.round();
      order.push(...round.released.map((d) => d.message.id));
      if (round.taken < 3) break;
    }
    expect(order).toEqual(expected);
  });

  it('releases each of 2,000 due messages exactly once with two loops on two pools racing', async () => {
    const tenant = tenantId();
    const messages = Array.from({ length: 2000 }, (_, i) =>
      sampleBufferedMessage({ tenantId: tenant, channel: 'app', priority: (['low', 'normal', 'high', 'critical'] as const)[i % 4] }),
    );
    const due = new Date(Date.now() - 1000).toISOString();
    await storeScheduled(messages, () => due);
    const second = createPool(db.url, { max: 2, applicationName: 'release-loop-test-2' });
    const dispatched = new Map<string, number>();
    const byLoop = [0, 0];
    const counting = (n: number) => async (released: readonly BufferedMessage[]) => {
      byLoop[n]! += released.length;
      for (const m of released) dispatched.set(m.id, (dispatched.get(m.id) ?? 0) + 1);
    };
    try {
      const a = loop({ pollMs: 10, batchSize: () => 100, dispatch: counting(0) });
      const b = loop({ pool: second, pollMs: 10, batchSize: () => 100, dispatch: counting(1) });
      const ids = messages.map((m) => m.id);
      await waitFor(
        async () =>
          (
            await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[]) AND status = 'scheduled'`, [
              ids,
            ])
          ).rows[0]!.n,
        (n) => n === 0,
      );
      await Promise.all([a.loop.close(), b.loop.close()]);
      expect(dispatched.size).toBe(2000);
      expect([...dispatched.values()].every((n) => n === 1)).toBe(true);
      const events = await eventsOf(ids);
      const perMessage = new Map<string, number>();
      for (const e of events) if (e.status === 'pending') perMessage.set(e.message_id, (perMessage.get(e.message_id) ?? 0) + 1);
      expect(perMessage.size).toBe(2000);
      expect([...perMessage.values()].every((n) => n === 1)).toBe(true);
      console.log(`2,000 due messages: ${byLoop[0]} released by one loop, ${byLoop[1]} by the other`);
    } finally {
      await second.end();
    }
  });

  it('holds a due message inside its tenant’s quiet hours until they end (critical passes), then releases it', async () => {
    const { tenant } = await createTenant(pool, { name: 'quiet', tier: 'enterprise', rpm: null, burst: null });
    await setQuietHours(pool, tenant.id, { starts: '21:00', ends: '08:00', defaultTimeZone: 'UTC' });
    const cache = new QuietHoursCache(pool, silent);
    await cache.start();
    try {
      const at = new Date('2026-12-04T20:00:00.000Z'); // 23:00 in Riyadh
      const normal = sampleBufferedMessage({ tenantId: tenant.id, recipient: '+966501234567', channel: 'app' });
      const critical = sampleBufferedMessage({ tenantId: tenant.id, recipient: '+966501234568', channel: 'app', priority: 'critical' });
      await storeScheduled([normal, critical], () => at.toISOString());
      let clock = at;
      const { loop: releaser, metrics } = loop({ clock: () => clock, quietHoursOf: (t) => cache.get(t) });

      const round = await releaser.round();
      expect(round.released.map((d) => d.message.id)).toEqual([critical.id]);
      const rows = await rowsOf([normal.id, critical.id]);
      expect(rows.get(critical.id)!.status).toBe('pending');
      expect(rows.get(normal.id)).toMatchObject({
        status: 'scheduled',
        send_at: new Date('2026-12-05T05:00:00.000Z'),
        held_reason: 'quiet hours 21:00–08:00 in Asia/Riyadh: held until 2026-12-05T05:00:00.000Z',
      });
      expect((await metrics.released.get()).values.find((v) => v.labels.outcome === 'held')?.value).toBe(1);

      clock = new Date('2026-12-05T04:59:59.999Z');
      expect((await releaser.round()).taken).toBe(0);
      clock = new Date('2026-12-05T05:00:00.000Z');
      expect((await releaser.round()).released.map((d) => d.message.id)).toEqual([normal.id]);
      expect((await eventsOf([normal.id])).map((e) => [e.status, e.detail])).toEqual([['pending', 'released at the end of quiet hours']]);
    } finally {
      await cache.close();
    }
  });

  it('never releases a held message past its TTL: the expiry sweep expires it', async () => {
    const tenant = tenantId();
    // Accepted two hours ago with a TTL of one hour, held by quiet hours until a minute ago.
    const message = sampleBufferedMessage({
      tenantId: tenant,
      acceptedAt: new Date(Date.now() - 7_200_000).toISOString(),
      ttlSeconds: 3600,
    });
    await storeScheduled([message], () => new Date(Date.now() - 60_000).toISOString(), 'quiet hours 21:00–08:00 in UTC: held until …');
    const { loop: releaser } = loop();
    expect((await releaser.round()).taken).toBe(0);
    expect((await rowsOf([message.id])).get(message.id)!.status).toBe('scheduled');

    expect(await expireDue(pool, 100)).toContain(message.id);
    expect((await rowsOf([message.id])).get(message.id)!.status).toBe('expired');
    expect((await eventsOf([message.id])).map((e) => [e.status, e.detail])).toEqual([['expired', 'ttl passed before it was released']]);
  });

  it('rolls a round back when dispatch fails: the next round adds a job of its own, even while the first is still held, and one call is claimed', async () => {
    const tenant = tenantId();
    const message = sampleBufferedMessage({ tenantId: tenant, channel: 'sms' });
    await storeScheduled([message], () => new Date(Date.now() - 1000).toISOString());
    const real = pipeline();
    const { loop: failing } = loop({
      dispatch: async (messages, expiresAtOf, release) => {
        await real(messages, expiresAtOf, release);
        throw new Error('Redis went away after the jobs were added');
      },
    });
    await expect(failing.round()).rejects.toThrow('Redis went away');
    expect((await rowsOf([message.id])).get(message.id)!.status).toBe('scheduled');
    expect(await eventsOf([message.id])).toEqual([]);

    const queue = queues.get('sms')!;
    const jobsOf = async () =>
      (await queue.getJobs(['waiting', 'prioritized'])).filter((j) => j.data.messages.some((m) => m.id === message.id));
    const [added] = await jobsOf();
    expect(added).toBeDefined();
    // Taken now, the rolled-back round's job would claim nothing: the message is not pending.
    const options = { from: ['pending'], leaseMs: 60_000, provider: 'sim', deduplicating: ['sim'] };
    expect((await claimProviderCalls(pool, [message.id], options))[0]!.state).toBe('done');

    // The next round releases it while BullMQ still holds that job: a job under the same id
    // would not be added, and the message would stay pending with no job to send it.
    const { loop: releaser } = loop();
    expect((await releaser.round()).released.map((d) => d.message.id)).toEqual([message.id]);
    const jobs = await jobsOf();
    expect(jobs.map((j) => j.id)).toContain(added!.id);
    expect(jobs).toHaveLength(2);
    expect(jobs.every((j) => j.name === SEND_JOB_NAME)).toBe(true);
    // Whichever job a send worker runs first claims the message; the other finds its call in progress.
    expect((await claimProviderCalls(pool, [message.id], options))[0]!.state).toBe('claimed');
    expect((await claimProviderCalls(pool, [message.id], options))[0]!.state).toBe('busy');
  });

  it('publishes released app messages to the gateways only once the round committed, so an ack finds them pending', async () => {
    const message = sampleBufferedMessage({ tenantId: tenantId(), channel: 'app' });
    await storeScheduled([message], () => new Date(Date.now() - 1000).toISOString());
    const seen: string[] = [];
    const { loop: releaser } = loop({
      dispatch: async () => undefined,
      // What a gateway's status writer would find, on a connection of its own, when the device acks at once.
      publish: async (messages) => {
        for (const m of messages) seen.push((await rowsOf([m.id])).get(m.id)!.status);
      },
    });
    expect((await releaser.round()).released).toHaveLength(1);
    expect(seen).toEqual(['pending']);
  });

  it('keeps going when PostgreSQL is unreachable, saying so once', async () => {
    const lines: { msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) });
    const unreachable = createPool('postgres://127.0.0.1:1/none', { max: 1, applicationName: 'release-loop-unreachable' });
    unreachable.on('error', () => undefined);
    try {
      const { loop: releaser, metrics } = loop({ pool: unreachable, logger, pollMs: 10 });
      const failed = async () => (await metrics.rounds.get()).values.find((v) => v.labels.outcome === 'failed')?.value ?? 0;
      await waitFor(failed, (n) => n >= 3);
      await releaser.close();
      expect(lines.filter((l) => l.msg === 'scheduled messages not released; retrying every poll')).toHaveLength(1);
    } finally {
      await unreachable.end();
    }
  });
});
