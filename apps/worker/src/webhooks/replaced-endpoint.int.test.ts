import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createDatabase, createPool, createTenant, setTenantWebhook, type ThrowawayDatabase } from '@esh3ar/db';
import { waitFor } from '@esh3ar/stack';
import type pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { WebhookDispatcher } from './dispatcher.ts';
import { quickDispatcher } from './dispatcher.test-kit.ts';

// A webhook replaced (a new URL and a new secret, as an operator rotating a leaked secret
// does) while a worker is delivering to the old one, against real PostgreSQL and a real
// HTTP receiver, in-process.

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar';
const EVENTS = 800;

let db: ThrowawayDatabase;
let pool: pg.Pool;
let server: Server;
let dispatcher: WebhookDispatcher | undefined;

interface Seen {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}
const seen: Seen[] = [];
/** Runs while the first request waits for its answer. */
let duringFirst: (() => Promise<void>) | null = null;

beforeAll(async () => {
  db = await createDatabase(DATABASE_URL, 'webhook-replaced');
  pool = createPool(db.url, { max: 6, applicationName: 'webhook-replaced-test' });
  pool.on('error', () => undefined); // the teardown's DROP … WITH (FORCE) ends the connections
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      seen.push({ path: request.url ?? '/', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      const during = duringFirst;
      duringFirst = null;
      void (during ?? (async () => undefined))().then(() => response.writeHead(200).end());
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

afterAll(async () => {
  await dispatcher?.close();
  server?.closeAllConnections();
  server?.close();
  await pool?.end();
  await db?.drop();
});

it('sends what is left to the new URL, signed with the new secret, once the webhook is replaced mid-delivery', async () => {
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const { tenant } = await createTenant(pool, { name: 'rotating', tier: 'basic' });
  await setTenantWebhook(pool, tenant.id, `${base}/old`);
  await pool.query(
    `INSERT INTO webhook_outbox (tenant_id, message_id, status, at, detail)
     SELECT $1, gen_random_uuid(), 'sent', now(), 'event ' || n FROM generate_series(1, $2) AS n`,
    [tenant.id, EVENTS],
  );
  let secret = '';
  duringFirst = async () => {
    secret = (await setTenantWebhook(pool, tenant.id, `${base}/new`))!.secret;
  };
  dispatcher = quickDispatcher(pool, { timeoutMs: 5000 });
  const left = async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM webhook_outbox')).rows[0]!.n);
  await waitFor(left, (n) => n === 0, 30_000, 20);

  const [first, ...after] = seen;
  // The first POST began before the replacement: it went where the webhook pointed then.
  expect(first!.path).toBe('/old');
  expect(after.length).toBeGreaterThan(0);
  expect(after.map((r) => r.path)).toEqual(after.map(() => '/new'));
  const verifier = new Webhook(secret);
  const ids = (r: Seen) => (verifier.verify(r.body, r.headers as Record<string, string>) as { events: { id: string }[] }).events;
  const delivered = new Set([...(JSON.parse(first!.body) as { events: { id: string }[] }).events, ...after.flatMap(ids)].map((e) => e.id));
  expect(delivered.size).toBe(EVENTS);
});
