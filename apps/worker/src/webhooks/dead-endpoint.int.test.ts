import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { Writable } from 'node:stream';
import {
  claimWebhookTenants,
  createDatabase,
  createPool,
  createTenant,
  retryWebhookLater,
  setTenantWebhook,
  type ThrowawayDatabase,
} from '@esh3ar/db';
import { createWebhookMetrics } from '@esh3ar/observability';
import { waitFor } from '@esh3ar/stack';
import type pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookDispatcher } from './dispatcher.ts';

// A dead endpoint against real PostgreSQL and a real HTTP receiver, in-process. Its failure
// window is set in the past (tenant_webhooks.failing_since) rather than waited for.

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar';
const DISABLE_AFTER_HOURS = 72;

let db: ThrowawayDatabase;
let pool: pg.Pool;
let receiver: Receiver;
let dispatcher: WebhookDispatcher;
const registry = new Registry();
/** Every log line of the dispatcher, as an event. */
const logs = new EventEmitter<{ line: [Record<string, unknown>] }>();

/** An endpoint answering each path with the status set for it, announcing each request. */
class Receiver extends EventEmitter<{ request: [{ path: string; status: number; eventIds: string[] }] }> {
  readonly statuses = new Map<string, number>();
  readonly requests: { path: string; status: number; eventIds: string[] }[] = [];
  readonly #server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      const status = this.statuses.get(path) ?? 200;
      const { events } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: { id: string }[] };
      response.writeHead(status).end(() => {
        const seen = { path, status, eventIds: events.map((e) => e.id) };
        this.requests.push(seen);
        this.emit('request', seen);
      });
    });
  });
  url = '';

  async start(): Promise<void> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  /** Resolves with the requests to `path` once `done` holds for them (checked now and at each request). */
  until(
    path: string,
    done: (requests: { status: number; eventIds: string[] }[]) => boolean,
  ): Promise<{ status: number; eventIds: string[] }[]> {
    const of = () => this.requests.filter((r) => r.path === path).map(({ status, eventIds }) => ({ status, eventIds }));
    if (done(of())) return Promise.resolve(of());
    return new Promise((resolve) => {
      const on = () => {
        if (!done(of())) return;
        this.off('request', on);
        resolve(of());
      };
      this.on('request', on);
    });
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, 'close');
  }
}

function logged(msg: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const on = (line: Record<string, unknown>) => {
      if (typeof line.msg !== 'string' || !line.msg.startsWith(msg)) return;
      logs.off('line', on);
      resolve(line);
    };
    logs.on('line', on);
  });
}

async function gauge(name: string): Promise<number> {
  return (await registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;
}

interface EndpointState {
  failures: number;
  failing_since: Date | null;
  disabled_at: Date | null;
}

async function endpoint(tenantId: string): Promise<EndpointState> {
  const { rows } = await pool.query<EndpointState>(
    'SELECT failures, failing_since, disabled_at FROM tenant_webhooks WHERE tenant_id = $1',
    [tenantId],
  );
  return rows[0]!;
}

/** A tenant whose webhook is `path` on the receiver, failing for `failingHours` already, then one event waiting; the event's id. */
async function tenantWithEvent(path: string, failingHours?: number): Promise<{ tenantId: string; eventId: string }> {
  const { tenant } = await createTenant(pool, { name: 'dead endpoint', tier: 'basic' });
  await setTenantWebhook(pool, tenant.id, `${receiver.url}${path}`);
  if (failingHours !== undefined) {
    await pool.query('UPDATE tenant_webhooks SET failures = 40, failing_since = now() - make_interval(hours => $2) WHERE tenant_id = $1', [
      tenant.id,
      failingHours,
    ]);
  }
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO webhook_outbox (tenant_id, message_id, status, at) VALUES ($1, gen_random_uuid(), 'sent', now()) RETURNING id`,
    [tenant.id],
  );
  return { tenantId: tenant.id, eventId: rows[0]!.id };
}

beforeAll(async () => {
  db = await createDatabase(DATABASE_URL, 'dead-endpoint');
  pool = createPool(db.url, { max: 6, applicationName: 'dead-endpoint-test' });
  pool.on('error', () => undefined); // the teardown's DROP … WITH (FORCE) ends the connections
  receiver = new Receiver();
  await receiver.start();
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logs.emit('line', JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  dispatcher = new WebhookDispatcher({
    pool,
    logger: pino({ level: 'info' }, stream),
    metrics: createWebhookMetrics(registry),
    timeoutMs: 2000,
    pollMs: 20,
    // Quick retries: a disabled endpoint that was still tried would show many requests.
    retryBaseMs: 10,
    retryMaxMs: 20,
    disableAfterHours: () => DISABLE_AFTER_HOURS,
  });
});
afterAll(async () => {
  await dispatcher?.close();
  await receiver?.close();
  await pool?.end();
  await db?.drop();
});

describe('a dead webhook endpoint', () => {
  it('is disabled once it has failed for retention.webhookDisableAfterHours: counted, tried no more, enabled again by setting the webhook', async () => {
    const path = `/dead/${randomUUID()}`;
    receiver.statuses.set(path, 500);
    const disabled = logged('webhook endpoint disabled');
    // Failing for 73 hours already: the next failure is the one past the window.
    const { tenantId, eventId } = await tenantWithEvent(path, 73);

    expect(await receiver.until(path, (rs) => rs.length > 0)).toEqual([{ status: 500, eventIds: [eventId] }]);
    expect(await disabled).toMatchObject({ tenantId, disableAfterHours: DISABLE_AFTER_HOURS, endpoint: receiver.url });
    expect(await endpoint(tenantId)).toMatchObject({ failures: 41, disabled_at: expect.any(Date) });
    // Past its backoff it is due in every other way, and still no worker claims it.
    await pool.query('UPDATE tenant_webhooks SET retry_at = NULL WHERE tenant_id = $1', [tenantId]);
    expect((await claimWebhookTenants(pool, 1000, 10_000, randomUUID())).map((c) => c.tenantId)).not.toContain(tenantId);
    // The dispatcher reads the count once a second.
    await waitFor(
      () => gauge('esh3ar_webhook_endpoints_disabled'),
      (n) => n === 1,
      10_000,
    );

    // Set again (PUT …/webhook, `tenant webhook set`), to an endpoint that answers now.
    receiver.statuses.set(path, 200);
    await setTenantWebhook(pool, tenantId, `${receiver.url}${path}`);
    // One refused POST, then the delivery: nothing was tried while it was disabled.
    expect(await receiver.until(path, (rs) => rs.some((r) => r.status === 200))).toEqual([
      { status: 500, eventIds: [eventId] },
      { status: 200, eventIds: [eventId] },
    ]);
    await waitFor(
      () => endpoint(tenantId),
      (e) => e.failures === 0 && e.failing_since === null && e.disabled_at === null,
      10_000,
    );
    await waitFor(
      () => gauge('esh3ar_webhook_endpoints_disabled'),
      (n) => n === 0,
      10_000,
    );
  });

  it('within the window only backs off: the first failure starts the window and a 2xx ends it', async () => {
    const path = `/flaky/${randomUUID()}`;
    receiver.statuses.set(path, 503);
    const { tenantId, eventId } = await tenantWithEvent(path);
    await receiver.until(path, (rs) => rs.length > 0);
    const failing = await waitFor(
      () => endpoint(tenantId),
      (e) => e.failing_since !== null,
      10_000,
    );
    expect(failing.disabled_at).toBeNull();

    receiver.statuses.set(path, 200);
    const requests = await receiver.until(path, (rs) => rs.some((r) => r.status === 200));
    expect(requests.at(-1)).toEqual({ status: 200, eventIds: [eventId] });
    expect(requests.slice(0, -1).every((r) => r.status === 503)).toBe(true);
    await waitFor(
      () => endpoint(tenantId),
      (e) => e.failures === 0 && e.failing_since === null && e.disabled_at === null,
      10_000,
    );
  });

  it('is never disabled by a retry that was no failure (nothing left to send), however old its window', async () => {
    const { tenant } = await createTenant(pool, { name: 'idle', tier: 'basic' });
    await setTenantWebhook(pool, tenant.id, 'http://127.0.0.1:9/idle');
    const lease = randomUUID();
    await pool.query(`UPDATE tenant_webhooks SET failing_since = now() - interval '200 hours', lease_token = $2 WHERE tenant_id = $1`, [
      tenant.id,
      lease,
    ]);
    expect(await retryWebhookLater(pool, tenant.id, lease, 0, false, null)).toEqual({ failingSince: expect.any(Date), disabled: false });
    expect(await retryWebhookLater(pool, tenant.id, randomUUID(), 0, true, 1000)).toBeNull();
  });
});
