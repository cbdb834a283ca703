import { ERROR_STATUS, type ErrorCode } from '@esh3ar/contracts';
import { createDatabase, createTenant, type ThrowawayDatabase } from '@esh3ar/db';
import { deletePrefix, uniquePrefix } from '@esh3ar/stack';
import { validate, compileErrors } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp, type InProcessApp } from './in-process-app.test-kit.ts';

/*
 * GET /docs/openapi.json and GET /docs on the real app in-process (inject), every optional
 * route family switched on: the admin routes (ADMIN_TOKEN) and both providers' receipts.
 */

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('openapi');
const ADMIN_TOKEN = 'openapi-test-admin-token-0123456789abcdef';
let db: ThrowawayDatabase;
let api: InProcessApp;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the document, read as the OpenAPI 3.1 specification describes it
let doc: any;

interface Media {
  schema?: object;
  example?: unknown;
  examples?: Record<string, { value: unknown }>;
}
interface Operation {
  operationId?: string;
  tags?: string[];
  summary?: string;
  security?: unknown[];
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, { description: string; content?: Record<string, Media> }>;
}

/** Routes Fastify serves that are no part of the API: this page itself, and the queue board (a web page of its own). */
const NOT_DOCUMENTED = [/^\/docs(\/|$)/, /^\/v1\/admin\/queues(\/|$)/];

/** Every route Fastify has registered, as `METHOD /path/{param}`, read from printRoutes' tree. */
function registeredRoutes(): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of api.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)[├└]── (.+?) \(([A-Z, -]+)\)$/.exec(line);
    if (match === null) continue;
    const [, indent = '', segment = '', methods = ''] = match;
    const depth = indent.length / 4;
    stack.length = depth;
    stack.push(segment);
    const path = stack.join('').replaceAll(/:(\w+)/g, '{$1}');
    for (const method of methods.split(', ')) if (method !== '-' && method !== 'HEAD') routes.push(`${method} ${path}`);
  }
  return routes;
}

function operations(): [string, Operation][] {
  return Object.entries(doc.paths as Record<string, Record<string, Operation>>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]): [string, Operation] => [`${method.toUpperCase()} ${path}`, operation]),
  );
}

/** Every media type of every request body and response, with where it is. */
function media(): [string, Media][] {
  return operations().flatMap(([name, operation]) => [
    ...Object.entries(operation.requestBody?.content ?? {}).map(([type, m]): [string, Media] => [`${name} request ${type}`, m]),
    ...Object.entries(operation.responses).flatMap(([status, response]) =>
      Object.entries(response.content ?? {}).map(([type, m]): [string, Media] => [`${name} ${status} ${type}`, m]),
    ),
  ]);
}

const examplesOf = (m: Media): unknown[] => [
  ...(m.example === undefined ? [] : [m.example]),
  ...Object.values(m.examples ?? {}).map((e) => e.value),
];

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'openapi');
  api = await startInProcessApp({
    databaseUrl: db.url,
    redisUrl,
    prefix,
    adminToken: ADMIN_TOKEN,
    env: {
      PUBLIC_BASE_URL: 'https://api.example.com',
      TWILIO_AUTH_TOKEN: 'twilio-token',
      META_APP_SECRET: 'meta-secret',
      META_WA_VERIFY_TOKEN: 'verify',
    },
  });
  const r = await api.app.inject({ method: 'GET', url: '/docs/openapi.json' });
  expect(r.statusCode).toBe(200);
  doc = r.json();
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

describe('GET /docs/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(doc));
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  });

  it('has every route Fastify serves, but the documented exclusions', () => {
    const registered = registeredRoutes();
    // The reading of printRoutes' tree itself: a route of each depth is found.
    expect(registered).toEqual(
      expect.arrayContaining(['POST /v1/messages', 'GET /v1/messages/{id}', 'DELETE /v1/admin/tenants/{tenantId}/keys/{keyId}']),
    );
    const documented = operations().map(([name]) => name);
    const expected = registered.filter((route) => !NOT_DOCUMENTED.some((pattern) => pattern.test(route.split(' ')[1]!)));
    expect(documented.sort()).toEqual([...new Set(expected)].sort());
    for (const family of ['/v1/providers/twilio/status', '/v1/providers/meta/webhook', '/v1/admin/dlq', '/health/ready', '/metrics'])
      expect(Object.keys(doc.paths)).toContain(family);
  });

  it('says for each operation who may call it, what it does, and every answer it can give', () => {
    const ids = new Set<string>();
    for (const [name, operation] of operations()) {
      expect(operation.operationId, name).toMatch(/^[a-zA-Z]+$/);
      ids.add(operation.operationId!);
      expect(operation.summary, name).toEqual(expect.any(String));
      expect(operation.tags?.length, name).toBe(1);
      expect(operation.security, name).toEqual(expect.any(Array));
      // Every route can be answered 500 and Node's refusals, whatever else it answers.
      for (const status of ['400', '408', '431', '500']) expect(Object.keys(operation.responses), name).toContain(status);
    }
    expect(ids.size).toBe(operations().length);
    expect(doc.paths['/v1/messages'].post.security).toEqual([{ apiKey: [] }]);
    expect(doc.paths['/v1/admin/tenants'].post.security).toEqual([{ adminToken: [] }]);
    expect(doc.paths['/health/live'].get.security).toEqual([]);
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['adminToken', 'apiKey', 'metaSignature', 'twilioSignature']);
  });

  it('documents every error code of the catalogue, each under its own status', () => {
    const seen = new Set<string>();
    for (const [name, operation] of operations()) {
      for (const [status, response] of Object.entries(operation.responses)) {
        if (Number(status) < 400) continue;
        for (const body of examplesOf(response.content?.['application/json'] ?? {}) as { error?: { code: ErrorCode } }[]) {
          if (body.error === undefined) continue;
          expect(ERROR_STATUS[body.error.code], `${name} ${status} ${body.error.code}`).toBe(Number(status));
          seen.add(body.error.code);
        }
      }
    }
    expect([...seen].sort()).toEqual(Object.keys(ERROR_STATUS).sort());
  });

  it('gives every body an example, and every example fits its schema', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    const all = media();
    expect(all.length).toBeGreaterThan(50);
    for (const [where, m] of all) {
      const examples = examplesOf(m);
      expect(examples.length, `${where} has no example`).toBeGreaterThan(0);
      const check = ajv.compile(m.schema ?? {});
      for (const example of examples) expect(check(example), `${where}: ${ajv.errorsText(check.errors)}`).toBe(true);
    }
  });

  it('documents request examples the api accepts as they are', async () => {
    const { apiKey } = await createTenant(api.pool, { name: 'openapi', tier: 'enterprise' });
    for (const path of ['/v1/messages', '/v1/messages/batch']) {
      const content = (doc.paths[path].post as Operation).requestBody!.content['application/json']!;
      for (const example of examplesOf(content)) {
        const r = await api.send(apiKey, 'POST', path, example);
        expect(r.status, JSON.stringify(r.body)).toBe(202);
        if (path.endsWith('batch')) expect(r.body.rejected).toBe(0);
      }
    }
  });

  it('is served without an API key, and costs no rate limit', async () => {
    // More than the 20 refused keys a minute after which an address is refused (auth.ts).
    for (let i = 0; i < 25; i++) {
      const r = await api.app.inject({ method: 'GET', url: '/docs/openapi.json', headers: { authorization: `Bearer wrong-${i}` } });
      expect(r.statusCode).toBe(200);
      expect(r.headers['x-ratelimit-limit']).toBeUndefined();
    }
  });
});

describe('GET /docs', () => {
  it('is an HTML page whose every asset this api serves itself', async () => {
    const page = await api.app.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/);
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(4);
    for (const asset of assets) {
      expect(asset, 'a local path').toMatch(/^\/docs\//);
      const r = await api.app.inject({ method: 'GET', url: asset });
      expect(r.statusCode, asset).toBe(200);
      // The page's own script names no other host (comments aside): no validator badge, no CDN.
      if (asset.endsWith('swagger-initializer.js')) {
        expect(r.body).toMatch(/validatorUrl: null/);
        expect(r.body.replaceAll(/\/\/ .*$/gm, '')).not.toMatch(/https?:\/\//);
      }
    }
    expect(page.body).not.toMatch(/https?:\/\//);
  });
});
