import { sendQueueName, type SendJobData } from '@esh3ar/contracts';
import { setQuietHours } from '@esh3ar/db';
import { createRedis } from '@esh3ar/queue';
import { send, startStack, waitFor, type Stack } from '@esh3ar/stack';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** A message as GET /v1/messages/:id shows it, in the parts these tests read. */
interface View {
  status: string;
  sendAt: string | null;
  heldReason: string | null;
  events: { status: string; at: string; detail: string | null }[];
}

let stack: Stack;
let redis: Redis;
let smsQueue: Queue<SendJobData>;
let apiKey: string;
let quietKey: string;

/** HH:MM in Riyadh (UTC+3, no DST) `minutes` from now. */
const riyadhClock = (minutes: number) => {
  const t = new Date(Date.now() + 3 * 3_600_000 + minutes * 60_000);
  return `${String(t.getUTCHours()).padStart(2, '0')}:${String(t.getUTCMinutes()).padStart(2, '0')}`;
};

beforeAll(async () => {
  stack = await startStack('scheduled-send');
  ({ apiKey } = await stack.tenant());
  const quiet = await stack.tenant();
  quietKey = quiet.apiKey;
  // Quiet from an hour ago to an hour ahead in Riyadh, set before the worker starts: it reads them before it stores anything.
  await setQuietHours(stack.pool, quiet.tenantId, { starts: riyadhClock(-60), ends: riyadhClock(60), defaultTimeZone: 'UTC' });
  await stack.startWorker();
  redis = createRedis(stack.env.REDIS_URL!, { name: 'scheduled-send-test', failFast: false });
  smsQueue = new Queue<SendJobData>(sendQueueName('sms'), { connection: redis, prefix: stack.prefix });
}, 60_000);

afterAll(async () => {
  await smsQueue?.close();
  redis?.disconnect();
  await stack?.close();
});

/** The sms fallback job holding a message, if any. */
async function fallbackJobOf(id: string) {
  const jobs = await smsQueue.getJobs(['waiting', 'prioritized', 'delayed']);
  return jobs.find((j) => j.data.reason === 'fallback' && j.data.messages.some((m) => m.id === id));
}

async function view(key: string, id: string): Promise<View> {
  const answer = await send(stack.api!.url, key, 'GET', `/v1/messages/${id}`);
  expect(answer.status).toBe(200);
  return answer.body as View;
}

async function accept(key: string, body: Record<string, unknown>): Promise<string> {
  const answer = await send(stack.api!.url, key, 'POST', '/v1/messages', { recipient: '+966500000101', content: 'hello', ...body });
  expect(answer.status).toBe(202);
  return answer.body.id as string;
}

describe('a message with a sendAt, through the api and a worker', () => {
  it('is stored as scheduled, and becomes pending at its sendAt, not before; its fallback timer starts then', async () => {
    const sendAt = new Date(Date.now() + 2000);
    const id = await accept(apiKey, { sendAt: sendAt.toISOString(), fallback: 'sms', fallbackAfterSeconds: 60 });

    const stored = await waitFor(
      () => view(apiKey, id),
      (v) => v.status !== 'queued',
    );
    expect(stored).toMatchObject({ status: 'scheduled', sendAt: sendAt.toISOString(), heldReason: null });
    expect(await fallbackJobOf(id)).toBeUndefined();

    const released = await waitFor(
      () => view(apiKey, id),
      (v) => v.status !== 'scheduled',
    );
    // An app message to a phone with no connection: it waits as pending for the device.
    expect(released.status).toBe('pending');
    const event = released.events.find((e) => e.status === 'pending' && e.detail === 'released at its sendAt');
    expect(event).toBeDefined();
    expect(Date.parse(event!.at)).toBeGreaterThanOrEqual(sendAt.getTime());
    console.log(`released ${Date.parse(event!.at) - sendAt.getTime()} ms after its sendAt`);
    // Due 60 s after the release (to the end of that second), not after the acceptance.
    const fallback = await fallbackJobOf(id);
    expect(fallback!.timestamp + fallback!.delay).toBeGreaterThanOrEqual(sendAt.getTime() + 60_000);
  });

  it('goes at once when its sendAt has passed', async () => {
    const id = await accept(apiKey, { sendAt: new Date(Date.now() - 60_000).toISOString() });
    const stored = await waitFor(
      () => view(apiKey, id),
      (v) => v.status !== 'queued',
    );
    expect(stored).toMatchObject({ status: 'pending', sendAt: null });
  });
});

describe('a message inside its tenant’s quiet hours', () => {
  it('is held as scheduled until they end, saying why; a critical one goes at once', async () => {
    const held = await accept(quietKey, {});
    const critical = await accept(quietKey, { priority: 'critical' });
    const [h, c] = await Promise.all(
      [held, critical].map((id) =>
        waitFor(
          () => view(quietKey, id),
          (v) => v.status !== 'queued',
        ),
      ),
    );
    expect(h!.status).toBe('scheduled');
    expect(h!.heldReason).toBe(`quiet hours ${h!.heldReason!.slice(12, 23)} in Asia/Riyadh: held until ${h!.sendAt}`);
    // Until the window's end, set an hour ahead (to the minute).
    expect(Date.parse(h!.sendAt!)).toBeGreaterThan(Date.now() + 58 * 60_000);
    expect(Date.parse(h!.sendAt!)).toBeLessThanOrEqual(Date.now() + 60 * 60_000);
    expect(c!.status).toBe('pending');
  });
});
