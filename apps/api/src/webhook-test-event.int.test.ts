import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, createTenant, type ThrowawayDatabase } from '@esh3ar/db';
import { deletePrefix, uniquePrefix } from '@esh3ar/stack';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';

/*
 * POST /v1/admin/tenants/{id}/webhook/test on the real app in-process (inject) against real
 * PostgreSQL and Redis; the tenant's endpoint is a real local HTTP(S) server, and what it
 * receives is verified with `standardwebhooks`, the Standard Webhooks reference library.
 */

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN = `adm_${randomBytes(24).toString('base64url')}`;
const prefix = uniquePrefix('webhook-test');

interface Received {
  path: string;
  headers: Record<string, string>;
  raw: string;
}

let db: ThrowawayDatabase;
let api: InProcessApp;
let plain: Server;
let tls: HttpsServer;
let silent: Server;
const received: Received[] = [];
let certDir: string;

const urlOf = (server: NetServer, scheme = 'http') => `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;

async function listen<T extends NetServer>(server: T): Promise<T> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

function flat(headers: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value ?? []].flat().join(', ')]));
}

/** Records each request, then answers by path: /fail 500, /moved 302 to /ok, anything else 200. */
function endpoint(request: IncomingMessage, response: ServerResponse): void {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const path = request.url ?? '/';
    received.push({ path, headers: flat(request.headers), raw: Buffer.concat(chunks).toString('utf8') });
    if (path === '/fail') response.writeHead(500).end();
    else if (path === '/moved') response.writeHead(302, { location: '/ok' }).end();
    else response.writeHead(200).end('thanks');
  });
}

/** A tenant with its webhook at `url` (set through the admin API); its id and secret. */
async function tenantAt(url: string): Promise<{ tenantId: string; secret: string }> {
  const { tenant } = await createTenant(api.pool, { name: 'webhook test', tier: 'basic' });
  const set = await api.send(ADMIN, 'PUT', `/v1/admin/tenants/${tenant.id}/webhook`, { url });
  expect(set.status).toBe(200);
  return { tenantId: tenant.id, secret: set.body.secret as string };
}

const test = (tenantId: string, token: string | null = ADMIN) => api.send(token, 'POST', `/v1/admin/tenants/${tenantId}/webhook/test`);

beforeAll(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'esh3ar-webhook-test-'));
  // A self-signed certificate: what a receiver's misconfigured TLS looks like to us.
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'],
      ...['-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem'), '-subj', '/CN=127.0.0.1'],
      ...['-addext', 'subjectAltName=IP:127.0.0.1'],
    ],
    { stdio: 'pipe' },
  );
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'webhook-test');
  [api, plain, tls, silent] = await Promise.all([
    startInProcessApp({ databaseUrl: db.url, redisUrl, prefix, adminToken: ADMIN }),
    listen(createServer(endpoint)),
    listen(createHttpsServer({ key: readFileSync(join(certDir, 'key.pem')), cert: readFileSync(join(certDir, 'cert.pem')) }, endpoint)),
    // Reads the request and never answers.
    listen(createServer((request) => request.resume())),
  ]);
});
afterAll(async () => {
  vi.restoreAllMocks();
  for (const server of [plain, tls, silent]) server?.closeAllConnections();
  await Promise.all([plain, tls, silent].map((server) => server && new Promise((resolve) => server.close(resolve))));
  await api?.close();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
  rmSync(certDir, { recursive: true, force: true });
});

describe('POST /v1/admin/tenants/{id}/webhook/test', () => {
  it('sends one signed test event at once, which the reference library verifies, and answers delivered with the status and time', async () => {
    const path = `/ok/${randomUUID()}`;
    const { tenantId, secret } = await tenantAt(`${urlOf(plain)}${path}`);
    const r = await test(tenantId);
    expect(r).toMatchObject({
      status: 200,
      body: {
        delivered: true,
        status: 200,
        ms: expect.any(Number),
        webhookId: expect.stringMatching(/^msg_[0-9a-f]{32}$/),
        eventId: expect.stringMatching(/^test_/),
      },
    });
    expect(r.body).not.toHaveProperty('failure');
    const got = received.filter((x) => x.path === path);
    expect(got).toHaveLength(1);
    const { headers, raw } = got[0]!;
    expect(headers['webhook-id']).toBe(r.body.webhookId);
    expect(new Webhook(secret).verify(raw, headers)).toEqual({
      events: [
        {
          id: r.body.eventId,
          type: 'webhook.test',
          at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          detail: expect.any(String),
          tenant: tenantId,
        },
      ],
    });
    expect(() => new Webhook(secret).verify(raw.replace('webhook.test', 'webhook.tset'), headers)).toThrow(WebhookVerificationError);
    expect(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(raw, headers)).toThrow(WebhookVerificationError);
    vi.spyOn(Date, 'now').mockReturnValue((Number(headers['webhook-timestamp']) + 301) * 1000);
    expect(() => new Webhook(secret).verify(raw, headers)).toThrow(/too old/);
    vi.mocked(Date.now).mockRestore();
    // A test is no status event: nothing is queued for the worker.
    const { rows } = await api.pool.query('SELECT count(*)::int AS n FROM webhook_outbox WHERE tenant_id = $1', [tenantId]);
    expect(rows[0]).toEqual({ n: 0 });
    // Each test is a new event and a new request.
    const again = await test(tenantId);
    expect(again.body.eventId).not.toBe(r.body.eventId);
    expect(again.body.webhookId).not.toBe(r.body.webhookId);
  });

  it('answers a non-2xx, a redirect (not followed), a refused connection, an invalid certificate and a timeout in words', async () => {
    const closed = await listen(createServer());
    const refusedUrl = `${urlOf(closed)}/hook`;
    closed.close();
    await once(closed, 'close');
    const cases: [string, Record<string, unknown>][] = [
      [`${urlOf(plain)}/fail`, { status: 500, failure: 'status', error: 'the endpoint answered 500' }],
      [
        `${urlOf(plain)}/moved`,
        { status: 302, failure: 'status', error: expect.stringMatching(/^the endpoint answered 302 \(a redirect: not followed/) },
      ],
      [refusedUrl, { status: null, failure: 'refused', error: expect.stringContaining('ECONNREFUSED') }],
      [
        `${urlOf(tls, 'https')}/ok`,
        {
          status: null,
          failure: 'tls',
          error: expect.stringMatching(/certificate is not valid: self-signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\)$/),
        },
      ],
      [`${urlOf(plain, 'https')}/ok`, { status: null, failure: 'tls', error: expect.stringContaining('TLS handshake failed') }],
      ['http://esh3ar-webhook-test.invalid/hook', { status: null, failure: 'dns', error: expect.stringContaining('does not resolve') }],
      [`${urlOf(silent)}/hook`, { status: null, failure: 'timeout', error: 'no answer within 5000 ms' }],
    ];
    for (const [url, failure] of cases) {
      const { tenantId } = await tenantAt(url);
      const r = await test(tenantId);
      expect(r.status, url).toBe(200);
      expect(r.body, url).toMatchObject({ delivered: false, ms: expect.any(Number), webhookId: expect.any(String), ...failure });
    }
    expect(received.filter((x) => x.path === '/fail' || x.path === '/moved').map((x) => x.path)).toEqual(['/fail', '/moved']);
  });

  it('404 for an unknown or malformed tenant and for a tenant without a webhook; 401 without the admin token', async () => {
    for (const id of [randomUUID(), 'not-a-uuid']) {
      const r = await test(id);
      expect(r.status, id).toBe(404);
      expect(r.body.error).toMatchObject({ code: 'NOT_FOUND', message: 'no such tenant' });
    }
    const { tenant, apiKey } = await createTenant(api.pool, { name: 'no webhook', tier: 'basic' });
    expect((await test(tenant.id)).body.error).toMatchObject({ code: 'NOT_FOUND', message: 'this tenant has no webhook' });
    const { tenantId } = await tenantAt(`${urlOf(plain)}/ok/removed`);
    expect((await api.send(ADMIN, 'DELETE', `/v1/admin/tenants/${tenantId}/webhook`)).status).toBe(204);
    expect((await test(tenantId)).status).toBe(404);
    for (const token of [null, apiKey, 'adm_wrong']) expect((await test(tenant.id, token)).status).toBe(401);
    expect(received.some((x) => x.path === '/ok/removed')).toBe(false);
  });

  it('sends nothing to a stored URL that registration would refuse today, and says why', async () => {
    const path = `/ok/${randomUUID()}`;
    const { tenantId } = await tenantAt(`${urlOf(plain)}${path}`);
    await api.pool.query('UPDATE tenant_webhooks SET url = $2 WHERE tenant_id = $1', [tenantId, `${urlOf(plain)}${path} x`]);
    const r = await test(tenantId);
    expect(r).toMatchObject({
      status: 200,
      body: { delivered: false, status: null, failure: 'url', error: expect.stringContaining('no spaces or control characters') },
    });
    expect(received.filter((x) => x.path.startsWith(path))).toEqual([]);
  });
});
