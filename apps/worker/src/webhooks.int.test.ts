import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { STATUS_RANK, type WebhookEvent } from '@esh3ar/contracts';
import { send, startApp, startStack, TestDevice, waitFor, type AppProcess, type Stack } from '@esh3ar/stack';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const ADMIN = `adm_${randomBytes(24).toString('base64url')}`;
let stack: Stack;
let sim: AppProcess;
let receiver: Receiver;
let seq = 0;
const devices: TestDevice[] = [];

const newPhone = () => `+9665${String(30_000_000 + seq++ * 7919 + Math.floor(Math.random() * 1000)).slice(0, 8)}`;
const api = () => stack.api!.url;

/** One POST as the receiver answered it. */
interface Delivery {
  path: string;
  /** The Standard Webhooks headers: webhook-id, webhook-timestamp, webhook-signature. */
  headers: Record<string, string>;
  raw: string;
  status: number;
  events: WebhookEvent[];
}

/**
 * A tenant's endpoint: a real HTTP server that records every POST per path, answers 500
 * to the next `fail` of a path, and lets a test await the deliveries it expects.
 */
class Receiver {
  readonly deliveries: Delivery[] = [];
  readonly #behaviour = new Map<string, { fail: number; delayMs: number }>();
  readonly #waiters = new Set<() => void>();
  readonly #server: Server;
  url = '';

  constructor() {
    this.#server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const path = request.url ?? '/';
        const behaviour = this.#behaviour.get(path) ?? { fail: 0, delayMs: 0 };
        const status = behaviour.fail > 0 ? 500 : 200;
        if (status === 500) behaviour.fail--;
        const raw = Buffer.concat(chunks).toString('utf8');
        const answer = () => {
          response.writeHead(status).end();
          this.deliveries.push({
            path,
            headers: Object.fromEntries(
              ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name) => [name, String(request.headers[name])]),
            ),
            raw,
            status,
            events: (JSON.parse(raw) as { events: WebhookEvent[] }).events,
          });
          for (const wake of this.#waiters) wake();
        };
        if (behaviour.delayMs > 0) setTimeout(answer, behaviour.delayMs);
        else answer();
      });
    });
  }

  async start(): Promise<void> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  behave(path: string, behaviour: { fail?: number; delayMs?: number }): void {
    this.#behaviour.set(path, { fail: behaviour.fail ?? 0, delayMs: behaviour.delayMs ?? 0 });
  }

  /** Events of this path that were answered 2xx, in the order they arrived. */
  received(path: string): WebhookEvent[] {
    return this.deliveries.filter((d) => d.path === path && d.status === 200).flatMap((d) => d.events);
  }

  waitFor(predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const wake = () => {
        if (!predicate()) return;
        this.#waiters.delete(wake);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        reject(
          new Error(
            `deliveries not as expected within ${timeoutMs} ms; got ${JSON.stringify(this.deliveries.map((d) => [d.path, d.status, d.events.map((e) => e.status)])).slice(0, 3000)}`,
          ),
        );
      }, timeoutMs);
      this.#waiters.add(wake);
    });
  }

  /** Resolves with the 2xx-answered events of `messageId` once there are `count` of them. */
  async eventsOf(path: string, messageId: string, count: number): Promise<WebhookEvent[]> {
    const of = () => this.received(path).filter((e) => e.messageId === messageId);
    await this.waitFor(() => of().length >= count);
    return of();
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, 'close');
  }
}

/** A tenant with its own API key and a webhook at its own path of the receiver. */
async function tenantWithWebhook(): Promise<{ tenantId: string; apiKey: string; path: string; secret: string }> {
  const { tenantId, apiKey } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 });
  const path = `/hooks/${tenantId}`;
  const r = await send(api(), ADMIN, 'PUT', `/v1/admin/tenants/${tenantId}/webhook`, { url: `${receiver.url}${path}` });
  expect(r.status).toBe(200);
  return { tenantId, apiKey, path, secret: r.body.secret as string };
}

async function sendMessage(apiKey: string, body: Record<string, unknown>): Promise<string> {
  const r = await send(api(), apiKey, 'POST', '/v1/messages', { content: 'hello', ...body });
  expect(r.status).toBe(202);
  return r.body.id as string;
}

const waitStatus = (apiKey: string, id: string, status: string) =>
  waitFor(
    () => send(api(), apiKey, 'GET', `/v1/messages/${id}`).then((r) => r.body),
    (m) => m.status === status,
    30_000,
  );

/** Per message, in arrival order: ids never go back (a retried POST repeats them) and statuses only move forward. */
function expectInOrder(events: readonly WebhookEvent[]): void {
  const last = new Map<string, WebhookEvent>();
  for (const e of events) {
    const before = last.get(e.messageId);
    if (before) {
      expect(BigInt(e.id) >= BigInt(before.id), `${e.messageId}: ${before.status} (${before.id}) then ${e.status} (${e.id})`).toBe(true);
      expect(STATUS_RANK[e.status]).toBeGreaterThanOrEqual(STATUS_RANK[before.status]);
    }
    last.set(e.messageId, e);
  }
}

async function connectDevice(phone: string): Promise<TestDevice> {
  const device = await TestDevice.connect(`ws://127.0.0.1:${stack.gateways[0]!.port}/v1/stream`, stack.deviceToken(phone));
  devices.push(device);
  return device;
}

async function outboxRows(tenantId: string): Promise<number> {
  const { rows } = await stack.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_outbox WHERE tenant_id = $1', [tenantId]);
  return rows[0]!.n;
}

beforeAll(async () => {
  receiver = new Receiver();
  [sim] = await Promise.all([startApp('provider-sim', { PROVIDER_SIM_PORT: '0' }), receiver.start()]);
  stack = await startStack('webhooks', {
    workers: 2,
    gateways: 1,
    env: {
      ADMIN_TOKEN: ADMIN,
      PROVIDER_BASE_URL: sim.url,
      WORKER_BATCH_TIMEOUT_MS: '5',
      WORKER_EXPIRY_SWEEP_MS: '200',
      WEBHOOK_POLL_MS: '50',
      WEBHOOK_RETRY_BASE_MS: '200',
      WEBHOOK_RETRY_MAX_MS: '1000',
      WEBHOOK_TIMEOUT_MS: '2000',
    },
  });
});
afterAll(async () => {
  await Promise.allSettled(devices.map((d) => d.close()));
  await stack?.close();
  await sim?.stop();
  await receiver?.close();
});

describe('registering a webhook (admin API)', () => {
  it('PUT sets it with a new secret each time, GET shows it without the secret, DELETE removes it', async () => {
    const { tenantId } = await stack.tenant('basic');
    const path = `/v1/admin/tenants/${tenantId}/webhook`;
    const first = await send(api(), ADMIN, 'PUT', path, { url: 'https://hooks.example.com/esh3ar?k=1' });
    expect(first).toMatchObject({
      status: 200,
      body: { tenantId, url: 'https://hooks.example.com/esh3ar?k=1', secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/) },
    });
    const second = await send(api(), ADMIN, 'PUT', path, { url: 'http://127.0.0.1:9/other' });
    expect(second.status).toBe(200);
    expect(second.body.secret).not.toBe(first.body.secret);
    expect(await send(api(), ADMIN, 'GET', path)).toMatchObject({ status: 200, body: { tenantId, url: 'http://127.0.0.1:9/other' } });
    expect((await send(api(), ADMIN, 'GET', path)).body).not.toHaveProperty('secret');
    expect((await send(api(), ADMIN, 'DELETE', path)).status).toBe(204);
    expect((await send(api(), ADMIN, 'GET', path)).status).toBe(404);
    expect((await send(api(), ADMIN, 'DELETE', path)).status).toBe(204);
  });

  it('refuses a URL that is not http(s), a body without url or with more, unknown tenants, and callers without the admin token', async () => {
    const { tenantId, apiKey } = await stack.tenant('basic');
    const path = `/v1/admin/tenants/${tenantId}/webhook`;
    for (const body of [
      { url: 'ftp://example.com/x' },
      { url: 'not a url' },
      { url: ' https://a.example' },
      { url: 'https:a.example' },
      { url: '' },
      {},
      { url: 'https://a.example', secret: 'mine' },
      { url: 42 },
    ]) {
      const r = await send(api(), ADMIN, 'PUT', path, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_FAILED');
    }
    for (const method of ['PUT', 'GET', 'DELETE']) {
      for (const other of [randomUUID(), 'not-a-uuid']) {
        const r = await send(
          api(),
          ADMIN,
          method,
          `/v1/admin/tenants/${other}/webhook`,
          method === 'PUT' ? { url: 'https://a.example' } : undefined,
        );
        expect(r.status, `${method} ${other}`).toBe(404);
        expect(r.body.error.code).toBe('NOT_FOUND');
      }
      for (const token of [null, apiKey]) {
        expect((await send(api(), token, method, path, method === 'PUT' ? { url: 'https://a.example' } : undefined)).status).toBe(401);
      }
    }
    expect((await send(api(), ADMIN, 'GET', path)).status).toBe(404);
  });
});

describe('status webhooks', () => {
  it('an sms accepted by the provider: one signed POST saying sent, which a Standard Webhooks library verifies', async () => {
    const { tenantId, apiKey, path, secret } = await tenantWithWebhook();
    const id = await sendMessage(apiKey, { recipient: newPhone(), channel: 'sms' });
    const [event] = await receiver.eventsOf(path, id, 1);
    expect(event).toEqual({
      id: expect.stringMatching(/^\d+$/),
      type: 'message.status',
      messageId: id,
      status: 'sent',
      at: expect.any(String),
      detail: expect.stringContaining('accepted by the sms provider'),
      tenant: tenantId,
    });
    expect(new Date(event!.at).toISOString()).toBe(event!.at);
    const delivery = receiver.deliveries.find((d) => d.path === path && d.status === 200)!;
    const { headers, raw } = delivery;
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(new Webhook(secret).verify(raw, headers)).toEqual({ events: [event] });
    expect(() => new Webhook(secret).verify(raw.replace('"sent"', '"fail"'), headers)).toThrow(WebhookVerificationError);
    expect(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(raw, headers)).toThrow(WebhookVerificationError);
    vi.spyOn(Date, 'now').mockReturnValue((Number(headers['webhook-timestamp']) + 301) * 1000);
    expect(() => new Webhook(secret).verify(raw, headers)).toThrow(/too old/);
    vi.mocked(Date.now).mockRestore();
  });

  it('an app message pushed to a device, then acknowledged: sent, then delivered', async () => {
    const { apiKey, path } = await tenantWithWebhook();
    const phone = newPhone();
    const device = await connectDevice(phone);
    const id = await sendMessage(apiKey, { recipient: phone });
    await device.waitForMessages(1);
    await waitStatus(apiKey, id, 'sent');
    device.ack(id);
    const events = await receiver.eventsOf(path, id, 2);
    expect(events.map((e) => e.status)).toEqual(['sent', 'delivered']);
    expect(events[1]!.detail).toBe('acknowledged by the device');
    expectInOrder(events);
  });

  it('a message whose TTL passes: expired; a permanent refusal by the provider: failed', async () => {
    const { apiKey, path } = await tenantWithWebhook();
    const expiring = await sendMessage(apiKey, { recipient: newPhone(), ttlSeconds: 1 });
    const refused = await sendMessage(apiKey, { recipient: '+19995550100', channel: 'sms' });
    const [expired] = await receiver.eventsOf(path, expiring, 1);
    expect(expired).toMatchObject({ status: 'expired', detail: 'ttl passed before delivery' });
    const [failed] = await receiver.eventsOf(path, refused, 1);
    expect(failed).toMatchObject({ status: 'failed', detail: expect.stringContaining('INVALID_RECIPIENT') });
  });

  it('a message stored as failed (refused by the database) is reported too', async () => {
    const { tenantId, path } = await tenantWithWebhook();
    const id = randomUUID();
    await stack.pool.query(
      `INSERT INTO messages (id, tenant_id, recipient, channel, priority, content, status, failure_reason, created_at)
       VALUES ($1, $2, '+966500000000', 'app', 1, '', 'failed', 'refused by the database: test', now())`,
      [id, tenantId],
    );
    const [failed] = await receiver.eventsOf(path, id, 1);
    expect(failed).toMatchObject({ status: 'failed', detail: 'refused by the database: test' });
  });

  it('an endpoint that answers 500 twice gets the same head event again, then everything, in order', async () => {
    const { apiKey, path } = await tenantWithWebhook();
    receiver.behave(path, { fail: 2 });
    const phone = newPhone();
    const device = await connectDevice(phone);
    const id = await sendMessage(apiKey, { recipient: phone });
    await device.waitForMessages(1);
    await waitStatus(apiKey, id, 'sent');
    device.ack(id);
    const events = await receiver.eventsOf(path, id, 2);
    expect(events.map((e) => e.status)).toEqual(['sent', 'delivered']);
    const refused = receiver.deliveries.filter((d) => d.path === path && d.status === 500);
    expect(refused).toHaveLength(2);
    // Head-of-line: each refused POST started with the sent event, the one delivered first.
    for (const d of refused) expect(d.events[0]).toMatchObject({ id: events[0]!.id, status: 'sent' });
    // A request sent again whole keeps its webhook-id; one with other events has another.
    const attempts = receiver.deliveries.filter((x) => x.path === path);
    for (const a of attempts) {
      for (const b of attempts) {
        const same = JSON.stringify(a.events.map((e) => e.id)) === JSON.stringify(b.events.map((e) => e.id));
        expect(a.headers['webhook-id'] === b.headers['webhook-id']).toBe(same);
      }
    }
    // Each POST is in order, and so is what was accepted; a refused batch is sent again whole.
    for (const d of receiver.deliveries.filter((x) => x.path === path)) expectInOrder(d.events);
    expectInOrder(receiver.received(path));
    await waitFor(
      () => outboxRows(events[0]!.tenant),
      (n) => n === 0,
    );
  });

  it('a tenant without a webhook gets nothing queued; removing a webhook drops what waits for it', async () => {
    const plain = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 });
    const id = await sendMessage(plain.apiKey, { recipient: newPhone(), channel: 'sms' });
    await waitStatus(plain.apiKey, id, 'sent');
    expect(await outboxRows(plain.tenantId)).toBe(0);

    const { tenantId, apiKey, path } = await tenantWithWebhook();
    receiver.behave(path, { fail: 1_000_000 });
    const ids = await Promise.all([1, 2, 3].map(() => sendMessage(apiKey, { recipient: newPhone(), channel: 'sms' })));
    await Promise.all(ids.map((m) => waitStatus(apiKey, m, 'sent')));
    await receiver.waitFor(() => receiver.deliveries.some((d) => d.path === path));
    expect(await outboxRows(tenantId)).toBe(3);
    const removed = await send(api(), ADMIN, 'DELETE', `/v1/admin/tenants/${tenantId}/webhook`);
    expect(removed.status).toBe(204);
    expect(await outboxRows(tenantId)).toBe(0);
    expect(receiver.received(path)).toEqual([]);
  });

  it('two workers never POST one event twice: 20 tenants, slow endpoints, each event exactly once and in order', async () => {
    const tenants = await Promise.all(Array.from({ length: 20 }, () => tenantWithWebhook()));
    // Slow enough that a worker's 16 tenants in flight are still being served while the
    // other tenants' events wait: at 30 ms one worker once drained all 20 before the other polled.
    for (const t of tenants) receiver.behave(t.path, { delayMs: 400 });
    const sent = await Promise.all(
      tenants.flatMap((t) =>
        Array.from({ length: 5 }, async () => ({
          path: t.path,
          id: await sendMessage(t.apiKey, { recipient: newPhone(), channel: 'sms' }),
        })),
      ),
    );
    await receiver.waitFor(() => sent.every(({ path, id }) => receiver.received(path).some((e) => e.messageId === id)), 45_000);
    const perId = new Map<string, number>();
    for (const t of tenants) {
      const events = receiver.received(t.path);
      expectInOrder(events);
      for (const e of events) perId.set(e.id, (perId.get(e.id) ?? 0) + 1);
    }
    expect(perId.size).toBe(100);
    expect([...perId.values()].every((n) => n === 1)).toBe(true);
    // Both workers took part: one holds at most 16 tenants at a time.
    for (const worker of stack.workers) {
      const metrics = await fetch(`${worker.url}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(/^esh3ar_webhook_deliveries_total\{outcome="delivered",service="worker"\} [1-9]/m);
      expect(metrics).toMatch(/^esh3ar_webhook_outbox_lag_seconds\{service="worker"\} /m);
    }
  });
});
