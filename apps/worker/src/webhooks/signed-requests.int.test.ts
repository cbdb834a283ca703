import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createDatabase, createPool, createTenant, setTenantWebhook, type ThrowawayDatabase } from '@esh3ar/db';
import type pg from 'pg';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { WebhookDispatcher } from './dispatcher.ts';
import { quickDispatcher } from './dispatcher.test-kit.ts';

// The dispatcher's real requests, in-process against real PostgreSQL, received by a real
// HTTP server and verified with `standardwebhooks`, the reference library of the Standard
// Webhooks spec: what it accepts, every receiver's library accepts.

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar';

interface Received {
  path: string;
  headers: Record<string, string>;
  raw: string;
  eventIds: string[];
  status: number;
}

/** An endpoint that records each POST and answers it with what the path's handler decides (default 200). */
class Receiver extends EventEmitter<{ request: [Received] }> {
  readonly requests: Received[] = [];
  readonly handlers = new Map<string, (seen: Omit<Received, 'status'>) => Promise<number>>();
  readonly #server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const seen = {
        path: request.url ?? '/',
        headers: flat(request.headers),
        raw,
        eventIds: (JSON.parse(raw) as { events: { id: string }[] }).events.map((e) => e.id),
      };
      const handler = this.handlers.get(seen.path) ?? (async () => 200);
      void handler(seen).then((status) =>
        response.writeHead(status).end(() => {
          const done = { ...seen, status };
          this.requests.push(done);
          this.emit('request', done);
        }),
      );
    });
  });
  url = '';

  async start(): Promise<void> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  /** The requests to `path` once one of them was answered `status`. */
  answered(path: string, status: number): Promise<Received[]> {
    const of = () => this.requests.filter((r) => r.path === path);
    if (of().some((r) => r.status === status)) return Promise.resolve(of());
    return new Promise((resolve) => {
      const on = (r: Received) => {
        if (r.path !== path || r.status !== status) return;
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

function flat(headers: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value ?? []].flat().join(', ')]));
}

let db: ThrowawayDatabase;
let pool: pg.Pool;
let receiver: Receiver;
let dispatcher: WebhookDispatcher;

/** A tenant whose webhook is `path` on the receiver; its secret. */
async function tenantAt(path: string): Promise<{ tenantId: string; secret: string }> {
  const { tenant } = await createTenant(pool, { name: 'signed', tier: 'basic' });
  const webhook = await setTenantWebhook(pool, tenant.id, `${receiver.url}${path}`);
  return { tenantId: tenant.id, secret: webhook!.secret };
}

/** Status events waiting for the tenant, written in one statement; their ids. */
async function waiting(tenantId: string, count: number): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO webhook_outbox (tenant_id, message_id, status, at, detail)
     SELECT $1, gen_random_uuid(), 'sent', now(), 'accepted by the sms provider (sim_1)' FROM generate_series(1, $2) RETURNING id`,
    [tenantId, count],
  );
  return rows.map((r) => r.id);
}

beforeAll(async () => {
  db = await createDatabase(DATABASE_URL, 'signed-requests');
  pool = createPool(db.url, { max: 6, applicationName: 'signed-requests-test' });
  pool.on('error', () => undefined); // the teardown's DROP … WITH (FORCE) ends the connections
  receiver = new Receiver();
  await receiver.start();
  dispatcher = quickDispatcher(pool);
});
afterAll(async () => {
  vi.restoreAllMocks();
  await dispatcher?.close();
  await receiver?.close();
  await pool?.end();
  await db?.drop();
});

describe('signed webhook requests, verified by the reference Standard Webhooks library', () => {
  it('are accepted by it; a tampered body, a timestamp more than 5 minutes old and another secret are refused', async () => {
    const { tenantId, secret } = await tenantAt('/one');
    const [eventId] = await waiting(tenantId, 1);
    const [request] = await receiver.answered('/one', 200);
    const { headers, raw } = request!;
    expect(headers).toMatchObject({
      'content-type': 'application/json',
      'webhook-id': expect.stringMatching(/^msg_[0-9a-f]{32}$/),
      'webhook-timestamp': expect.stringMatching(/^\d{10}$/),
      'webhook-signature': expect.stringMatching(/^v1,[A-Za-z0-9+/]{43}=$/),
    });
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(new Webhook(secret).verify(raw, headers)).toEqual({
      events: [
        {
          id: eventId,
          type: 'message.status',
          messageId: expect.any(String),
          status: 'sent',
          at: expect.any(String),
          detail: 'accepted by the sms provider (sim_1)',
          tenant: tenantId,
        },
      ],
    });
    expect(() => new Webhook(secret).verify(raw.replace('"sent"', '"failed"'), headers)).toThrow(WebhookVerificationError);
    expect(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(raw, headers)).toThrow(/No matching signature/);
    vi.spyOn(Date, 'now').mockReturnValue((Number(headers['webhook-timestamp']) + 301) * 1000);
    expect(() => new Webhook(secret).verify(raw, headers)).toThrow(/too old/);
    vi.mocked(Date.now).mockRestore();
  });

  it('signs with the key a secret issued before (base64url) encodes: its standard base64 form verifies', async () => {
    const { tenantId } = await tenantAt('/legacy');
    const key = randomBytes(32);
    await pool.query('UPDATE tenant_webhooks SET secret = $2 WHERE tenant_id = $1', [tenantId, `whsec_${key.toString('base64url')}`]);
    await waiting(tenantId, 1);
    const [request] = await receiver.answered('/legacy', 200);
    expect(new Webhook(`whsec_${key.toString('base64')}`).verify(request!.raw, request!.headers)).toMatchObject({
      events: [{ tenant: tenantId }],
    });
  });

  it('a retry of the same events keeps its webhook-id; a retry carrying more events gets another', async () => {
    const { tenantId, secret } = await tenantAt('/retried');
    let answers = 0;
    let more: string[] = [];
    // The first request is held while two more events are written, then refused: its retry
    // carries three events. The second is refused too: its retry carries the same three.
    receiver.handlers.set('/retried', async () => {
      answers++;
      if (answers === 1) more = await waiting(tenantId, 2);
      return answers <= 2 ? 500 : 200;
    });
    const [first] = await waiting(tenantId, 1);
    const requests = await receiver.answered('/retried', 200);
    expect(requests.map((r) => [r.eventIds, r.status])).toEqual([
      [[first], 500],
      [[first, ...more], 500],
      [[first, ...more], 200],
    ]);
    const [one, three, again] = requests.map((r) => r.headers['webhook-id']);
    expect(again).toBe(three);
    expect(one).not.toBe(three);
    expect(requests[2]!.raw).toBe(requests[1]!.raw);
    for (const r of requests) expect(new Webhook(secret).verify(r.raw, r.headers)).toMatchObject({ events: expect.any(Array) });
  });
});
