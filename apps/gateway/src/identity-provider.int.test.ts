import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { sampleBufferedMessage, type DeliveryItem } from '@esh3ar/contracts';
import { createPool, createTenant, storeBatch } from '@esh3ar/db';
import { createDatabase, deletePrefix, uniquePrefix, uuidv7, waitFor, type ThrowawayDatabase } from '@esh3ar/stack';
import { createSigner } from 'fast-jwt';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { parseConfig } from './config.ts';
import { DeviceTokenError, deviceTokenVerifier } from './device-token.ts';
import { connectClient, refusal, startTestGateway, type TestClient, type TestGateway } from './gateway.test-kit.ts';

// Device tokens from customers' identity providers: real RS256, ES256 and EdDSA keys made
// by jose, served as JWKS by an HTTP server of this file's own; the gateway in this
// process (real upgrade path), against a database and a Redis prefix of its own.
const SECRET = 'identity-provider-test-secret-0123456789';
const AUDIENCE = 'esh3ar-app';
const ISSUER_A = 'https://idp-a.example/';
const ISSUER_B = 'https://idp-b.example/';
const ISSUER_DOWN = 'https://idp-down.example/';
const MAX_AGE_S = 3600;
const SKEW_S = 30;

interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

/** Key sets by path, and how often each was fetched. */
const keySets = new Map<string, { keys: JWK[]; fetches: number }>();
let jwksServer: Server;
let jwksBase: string;
let db: ThrowawayDatabase;
let writes: pg.Pool;
let prefix: string;
let tenantA: string;
let tenantB: string;
let gateway: TestGateway;
const keys: Record<'aRs' | 'aEs' | 'aEd' | 'b' | 'stranger', SigningKey> = {} as never;
const clients: TestClient[] = [];
let phoneSeq = 0;

const newPhone = () => `+96657${String(1_000_000 + phoneSeq++)}`;

/** Stores app messages as pending, as a worker does when their phone is offline; their ids in replay order. */
async function storePending(tenantId: string, phone: string, count: number, content = (i: number) => `message ${i}`): Promise<string[]> {
  const rows = Array.from({ length: count }, (_, i) => ({
    message: sampleBufferedMessage({ id: uuidv7(), tenantId, recipient: phone, content: content(i) }),
    state: { status: 'pending' as const, failureReason: null },
  }));
  await storeBatch(writes, rows);
  return rows.map((r) => r.message.id);
}
const now = () => Math.floor(Date.now() / 1000);
const devToken = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 3_600_000 });

async function signingKey(kid: string, alg: 'RS256' | 'ES256' | 'EdDSA'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, publicKey };
}

async function publish(path: string, ...signing: SigningKey[]): Promise<void> {
  const set = keySets.get(path) ?? { keys: [], fetches: 0 };
  for (const k of signing) set.keys.push({ ...(await exportJWK(k.publicKey)), kid: k.kid, alg: k.alg, use: 'sig' });
  keySets.set(path, set);
}

const fetches = (path: string) => keySets.get(path)?.fetches ?? 0;

interface Claims {
  iss?: string;
  aud?: string;
  sub?: string;
  iat?: number;
  exp?: number;
}

/** A token as an identity provider signs it: A's issuer and the audience by default, made now, good for an hour. */
function providerToken(key: SigningKey, phone: string, claims: Claims = {}, header: { kid?: string } = {}): Promise<string> {
  const payload = { iss: ISSUER_A, aud: AUDIENCE, sub: phone, iat: now(), exp: now() + 3600, ...claims };
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey);
}

async function connect(token: string): Promise<TestClient> {
  const client = await connectClient(gateway.streamUrl, token);
  clients.push(client);
  return client;
}

const issuersEnv = () =>
  JSON.stringify([
    { issuer: ISSUER_A, jwksUrl: `${jwksBase}/a/jwks`, audience: AUDIENCE, tenant: tenantA },
    { issuer: ISSUER_B, jwksUrl: `${jwksBase}/b/jwks`, audience: AUDIENCE, tenant: tenantB },
    // Nothing listens on port 9 (discard) here: the keys cannot be fetched.
    { issuer: ISSUER_DOWN, jwksUrl: 'http://127.0.0.1:9/jwks', audience: AUDIENCE, tenant: tenantB },
  ]);

beforeAll(async () => {
  jwksServer = createServer((request, response) => {
    const set = keySets.get(request.url ?? '');
    if (!set) return void response.writeHead(404).end();
    set.fetches++;
    response.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: set.keys }));
  });
  jwksServer.listen(0, '127.0.0.1');
  await once(jwksServer, 'listening');
  jwksBase = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}`;
  keys.aRs = await signingKey('a-rs', 'RS256');
  keys.aEs = await signingKey('a-es', 'ES256');
  keys.aEd = await signingKey('a-ed', 'EdDSA');
  keys.b = await signingKey('b-rs', 'RS256');
  // Never published: a forger's key, sent with a kid the provider does use.
  keys.stranger = await signingKey('a-rs', 'RS256');
  await publish('/a/jwks', keys.aRs, keys.aEs, keys.aEd);
  await publish('/b/jwks', keys.b);

  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'gateway-identity');
  prefix = uniquePrefix('gateway-identity');
  writes = createPool(db.url, { max: 2, applicationName: 'esh3ar-test-gateway-identity' });
  tenantA = (await createTenant(writes, { name: 'tenant A', tier: 'enterprise', rpm: null, burst: null })).tenant.id;
  tenantB = (await createTenant(writes, { name: 'tenant B', tier: 'enterprise', rpm: null, burst: null })).tenant.id;
  gateway = await startTestGateway({
    DATABASE_URL: db.url,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: prefix,
    DEVICE_TOKEN_SECRET: SECRET,
    GATEWAY_TOKEN_ISSUERS: issuersEnv(),
    GATEWAY_TOKEN_MAX_AGE_SECONDS: String(MAX_AGE_S),
    GATEWAY_TOKEN_CLOCK_SKEW_SECONDS: String(SKEW_S),
    // Every unknown kid fetches the key set again here, so that the refetch can be seen;
    // the default cooldown is checked on its own below.
    GATEWAY_JWKS_COOLDOWN_MS: '0',
    GATEWAY_PG_POOL_MAX: '2',
  });
});
afterAll(async () => {
  for (const c of clients) c.socket.terminate();
  await gateway?.close();
  await writes?.end();
  if (prefix) await deletePrefix(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix);
  await db?.drop();
  jwksServer?.close();
});

describe('identity provider tokens (JWKS)', () => {
  it('accepts RS256, ES256 and EdDSA tokens of a configured issuer, fetching its key set once', async () => {
    const before = fetches('/a/jwks');
    for (const key of [keys.aRs, keys.aEs, keys.aEd]) {
      const client = await connect(await providerToken(key, newPhone()));
      expect(client.socket.readyState).toBe(WebSocket.OPEN);
    }
    expect(fetches('/a/jwks') - before).toBeLessThanOrEqual(1);
    // Within the skew, an expired token still passes.
    await connect(await providerToken(keys.aEs, newPhone(), { exp: now() - 5 }));
  });

  it('refuses every forged, misdirected, stale or confused token with 401 on the upgrade, and opens no socket', async () => {
    const phone = newPhone();
    const pem = await exportSPKI(keys.aRs.publicKey);
    const claims = { iss: ISSUER_A, aud: AUDIENCE, sub: phone, iat: now(), exp: now() + 3600 };
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const attacks: [string, string][] = [
      ['signed by a key the provider never published, under its kid', await providerToken(keys.stranger, phone)],
      ['signed by tenant A’s key, claiming another issuer', await providerToken(keys.aRs, phone, { iss: 'https://evil.example/' })],
      ['signed by tenant B’s key, claiming tenant A’s issuer', await providerToken(keys.b, phone)],
      ['for another application of the provider (aud)', await providerToken(keys.aRs, phone, { aud: 'another-app' })],
      [
        `made more than ${MAX_AGE_S} s ago (iat), though not expired`,
        await providerToken(keys.aEs, phone, { iat: now() - MAX_AGE_S - SKEW_S - 60 }),
      ],
      [
        `expired more than the ${SKEW_S} s of skew ago`,
        await providerToken(keys.aEd, phone, { iat: now() - 600, exp: now() - SKEW_S - 10 }),
      ],
      ['not a phone in sub', await providerToken(keys.aRs, phone, { sub: 'user|12345' })],
      ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`],
      ['alg none, kid of a real key', `${b64({ alg: 'none', kid: 'a-rs' })}.${b64(claims)}.`],
      [
        'HS256 keyed with the provider’s public key (algorithm confusion)',
        await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'a-rs' }).sign(new TextEncoder().encode(pem)),
      ],
      [
        'HS256 with the platform secret, claiming tenant A’s issuer',
        await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET)),
      ],
      [
        'RS256 by tenant A’s key without an issuer (the platform secret’s path)',
        await new SignJWT({ sub: phone, exp: now() + 60 }).setProtectedHeader({ alg: 'RS256', kid: 'a-rs' }).sign(keys.aRs.privateKey),
      ],
    ];
    for (const [attack, token] of attacks) {
      const refused = await refusal(gateway.streamUrl, token).catch((error: Error) => error);
      expect(refused, attack).toMatchObject({ status: 401 });
    }
    for (const tenant of [tenantA, tenantB, null]) expect(gateway.hub.phoneConnectionCount(phone, tenant)).toBe(0);
    expect(await gateway.metric('esh3ar_gateway_upgrades_refused_total', { reason: 'token' })).toBe(attacks.length);
  });

  it('an unknown kid fetches the key set again, then refuses; a key the provider added meanwhile is found that way', async () => {
    const rotated = await signingKey('a-rs-2', 'RS256');
    const before = fetches('/a/jwks');
    expect((await refusal(gateway.streamUrl, await providerToken(rotated, newPhone()))).status).toBe(401);
    expect(fetches('/a/jwks')).toBe(before + 1);

    await publish('/a/jwks', rotated);
    const client = await connect(await providerToken(rotated, newPhone()));
    expect(client.socket.readyState).toBe(WebSocket.OPEN);
    expect(fetches('/a/jwks')).toBe(before + 2);
  });

  it('with the default cooldown, tokens with made-up kids fetch the key set at most once per 30 s', async () => {
    await publish('/c/jwks', keys.aRs);
    const identify = deviceTokenVerifier(
      parseConfig({
        GATEWAY_TOKEN_ISSUERS: JSON.stringify([{ issuer: ISSUER_A, jwksUrl: `${jwksBase}/c/jwks`, audience: AUDIENCE, tenant: tenantA }]),
      }).deviceTokens,
    );
    const phone = newPhone();
    await expect(identify(await providerToken(keys.aRs, phone))).resolves.toEqual({ phone, tenant: tenantA });
    const madeUp = await Promise.all(
      Array.from({ length: 50 }, (_, i) => providerToken(keys.stranger, phone, {}, { kid: `made-up-${i}` })),
    );
    const results = await Promise.allSettled(madeUp.map((token) => identify(token)));
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof DeviceTokenError && r.reason.status === 401)).toBe(true);
    expect(fetches('/c/jwks')).toBe(1);
  });

  it('answers 503 with Retry-After when the issuer’s keys cannot be fetched', async () => {
    const refused = await refusal(gateway.streamUrl, await providerToken(keys.b, newPhone(), { iss: ISSUER_DOWN }));
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(await gateway.metric('esh3ar_gateway_upgrades_refused_total', { reason: 'token_keys' })).toBe(1);
  });
});

describe('tenants', () => {
  const liveItem = (tenantId: string, phone: string): DeliveryItem => ({
    id: uuidv7(),
    tenantId,
    recipient: phone,
    subject: null,
    content: `live for ${tenantId}`,
    priority: 'normal',
    createdAt: new Date().toISOString(),
    metadata: null,
    expiresAt: null,
  });

  it('tenant B’s issuer filling a phone’s connection cap (10) does not lock tenant A’s app out of that phone', async () => {
    const phone = newPhone();
    const held = await Promise.all(Array.from({ length: 10 }, async () => connect(await providerToken(keys.b, phone, { iss: ISSUER_B }))));
    const eleventh = await refusal(gateway.streamUrl, await providerToken(keys.b, phone, { iss: ISSUER_B })).catch((error: Error) => error);
    expect(eleventh).toMatchObject({ status: 429 });
    const deviceA = await connect(await providerToken(keys.aRs, phone));
    expect(gateway.hub.phoneConnectionCount(phone, tenantA)).toBe(1);
    expect(gateway.hub.phoneConnectionCount(phone, tenantB)).toBe(10);
    for (const d of [deviceA, ...held]) d.socket.close();
    await Promise.all([deviceA, ...held].map((d) => d.closed));
  });

  it('a token of tenant A’s issuer never receives (nor acknowledges) tenant B’s messages for the same phone; the platform token receives both', async () => {
    const phone = newPhone();
    const [a1] = await storePending(tenantA, phone, 1);
    const [b1] = await storePending(tenantB, phone, 1);
    const [a2] = await storePending(tenantA, phone, 1);

    const platform = await connect(devToken({ sub: phone }));
    await platform.received(3);
    expect(platform.ids).toEqual([a1, b1, a2]);
    const deviceA = await connect(await providerToken(keys.aRs, phone));
    const deviceB = await connect(await providerToken(keys.b, phone, { iss: ISSUER_B }));
    await Promise.all([deviceA.received(2), deviceB.received(1)]);

    // Live, in one delivery: B's first, then A's. A's device getting a3 proves it was not sent b2.
    const b2 = liveItem(tenantB, phone);
    const a3 = liveItem(tenantA, phone);
    gateway.hub.deliver([b2, a3]);
    await Promise.all([deviceA.received(3), deviceB.received(2), platform.received(5)]);
    expect(deviceA.ids).toEqual([a1, a2, a3.id]);
    expect(deviceA.frames.filter((f) => f.type === 'message').every((f) => f.tenant === tenantA)).toBe(true);
    expect(deviceB.ids).toEqual([b1, b2.id]);
    expect(platform.ids).toEqual([a1, b1, a2, b2.id, a3.id]);

    // b1 awaits an ack on this phone; tenant A's device cannot give it.
    deviceA.ack([b1!]);
    await deviceA.waitFor((frames) => frames.some((f) => f.code === 'UNKNOWN_MESSAGE'));
    await gateway.status.flush();
    const statusOf = async (id: string) =>
      (await writes.query<{ status: string }>('SELECT status FROM messages WHERE id = $1', [id])).rows[0]!.status;
    expect(await statusOf(b1!)).toBe('sent');
    // Tenant B's device can. Polled: PostgreSQL's state (no frame answers an ack).
    deviceB.ack([b1!]);
    await waitFor(
      () => statusOf(b1!),
      (status) => status === 'delivered',
      10_000,
      20,
    );
    expect(deviceB.frames.some((f) => f.type === 'error')).toBe(false);
  });
});
