import {
  ConfigError,
  deepFreeze,
  parseCommonConfig,
  readInt,
  readOptionalString,
  readPort,
  readSwitch,
  readWaitReplicas,
  type Env,
} from '@esh3ar/config';
import { runtimeConfigFromEnv } from '@esh3ar/runtime';
import { parseTrustedProxies } from './trusted-proxies.ts';

/** 32 characters: 128 bits as hex, the least `openssl rand -hex 32` (64) or any generator we document gives; a typed password is shorter. */
export const ADMIN_TOKEN_MIN_CHARS = 32;
/** The value shipped in infra/k8s/secret.example.yaml: refused by name, so that nobody runs with a published token. */
export const ADMIN_TOKEN_PLACEHOLDERS: readonly string[] = ['change-me'];

/** ADMIN_TOKEN guards every tenant's data and the runtime configuration: unset (no admin routes) or strong. */
function checkAdminToken(token: string | null): string | null {
  if (token === null) return null;
  if (ADMIN_TOKEN_PLACEHOLDERS.includes(token)) {
    throw new ConfigError(
      `ADMIN_TOKEN is the placeholder "${token}" of the examples: make a real one with \`openssl rand -hex 32\`, or leave it unset to disable /v1/admin/*`,
    );
  }
  if (token.length < ADMIN_TOKEN_MIN_CHARS) {
    throw new ConfigError(
      `ADMIN_TOKEN must be at least ${ADMIN_TOKEN_MIN_CHARS} characters, got ${token.length}: make one with \`openssl rand -hex 32\`, or leave it unset to disable /v1/admin/*`,
    );
  }
  return token;
}

/**
 * How long a client may take, enforced by Node's HTTP server before a request reaches
 * Fastify (a slow client would otherwise hold a socket and its half-received body for
 * ever: Fastify's defaults are 0, no limit).
 */
function readTimeouts(env: Env) {
  const timeouts = {
    // Headers are at most 16 KiB (Node's maxHeaderSize): 5 s is that much at 26 kbit/s.
    headersMs: readInt(env, 'API_HEADERS_TIMEOUT_MS', 5000, 1, 600_000),
    // Headers and body: the largest body (a 1 MiB batch) arrives within 10 s at 0.84 Mbit/s.
    requestMs: readInt(env, 'API_REQUEST_TIMEOUT_MS', 10_000, 1, 600_000),
    // An idle keep-alive connection is closed after 72 s: longer than nginx's upstream
    // keepalive_timeout of 60 s (infra/nginx/nginx.conf) and a cloud load balancer's
    // default 60 s idle timeout, so the proxy closes first and never sends a request onto
    // a connection the api is closing.
    keepAliveMs: readInt(env, 'API_KEEP_ALIVE_TIMEOUT_MS', 72_000, 1, 3_600_000),
    // Nothing sent or read for 60 s while a request is open: longer than any handler
    // runs (PostgreSQL statements stop at 5 s, Redis commands at 2 s), so only a client
    // that stopped reading its answer, or vanished without a FIN, is cut.
    connectionMs: readInt(env, 'API_CONNECTION_TIMEOUT_MS', 60_000, 1, 3_600_000),
  };
  // Node refuses a headers timeout longer than the whole request's.
  if (timeouts.headersMs > timeouts.requestMs) {
    throw new ConfigError(`API_HEADERS_TIMEOUT_MS (${timeouts.headersMs}) must not exceed API_REQUEST_TIMEOUT_MS (${timeouts.requestMs})`);
  }
  return timeouts;
}

/**
 * PUBLIC_BASE_URL: the api's address as providers reach it (through the load balancer,
 * with any path prefix the proxy strips). Twilio signs the URL it called, so the api
 * rebuilds it as this plus the path it received. No trailing slash, query or credentials.
 */
function readPublicBaseUrl(env: Env): string | null {
  const value = readOptionalString(env, 'PUBLIC_BASE_URL');
  if (value === null) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`PUBLIC_BASE_URL must be an absolute http(s) URL, got "${value}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new ConfigError(`PUBLIC_BASE_URL must use http or https, got "${url.protocol}"`);
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new ConfigError('PUBLIC_BASE_URL must be a scheme, host, port and path only: no query, fragment or credentials');
  }
  return value.replace(/\/+$/, '');
}

/**
 * Delivery receipts (routes/providers): a provider's routes exist only when its secret is
 * set, so that an unconfigured provider is a 404 rather than a route nobody can pass.
 */
function readReceipts(env: Env) {
  const publicBaseUrl = readPublicBaseUrl(env);
  const twilioAuthToken = readOptionalString(env, 'TWILIO_AUTH_TOKEN');
  const metaAppSecret = readOptionalString(env, 'META_APP_SECRET');
  if (twilioAuthToken !== null && publicBaseUrl === null) {
    throw new ConfigError('TWILIO_AUTH_TOKEN needs PUBLIC_BASE_URL: Twilio signs the full URL it calls, which the api must rebuild');
  }
  return {
    twilio: twilioAuthToken === null || publicBaseUrl === null ? null : { authToken: twilioAuthToken, publicBaseUrl },
    meta: metaAppSecret === null ? null : { appSecret: metaAppSecret, verifyToken: readOptionalString(env, 'META_WA_VERIFY_TOKEN') },
  };
}

/**
 * How long stopping may take after SIGTERM before close-with-grace exits with code 1: a
 * request in flight ends within API_REQUEST_TIMEOUT_MS (10 s by default), its Redis writes
 * with it. infra/ gives the container longer before SIGKILL (infra/infra.test.ts and
 * infra/k8s.test.ts check it).
 */
export const SHUTDOWN_GRACE_MS = 10_000;

export function parseConfig(env: Env) {
  const common = parseCommonConfig(env);
  return deepFreeze({
    ...common,
    adminToken: checkAdminToken(common.adminToken),
    redis: {
      ...common.redis,
      // Development only: start even on a Redis without AOF or with an evicting
      // maxmemory-policy (@esh3ar/queue guardRedisDurability), logged as an error.
      allowVolatileBuffer: readSwitch(env, 'ALLOW_VOLATILE_BUFFER', false),
      // Replicas that must hold a write before its 202 (WAIT); null: waitReplicasOf's default.
      waitReplicas: readWaitReplicas(env),
    },
    http: {
      host: common.host,
      port: readPort(env, 'API_PORT', 3000),
      // 10,000 simultaneous connections: Node's default backlog of 511 drops SYNs and
      // clients retry after a second. The kernel also caps it (net.core.somaxconn).
      backlog: readInt(env, 'API_LISTEN_BACKLOG', 16_384, 1, 1_000_000),
      // SO_REUSEPORT: several api processes on one host listen on the same port and the
      // kernel spreads new connections over them (one process per core, no cluster
      // master in between). Every process on the port must set it.
      reusePort: readSwitch(env, 'API_REUSE_PORT', false),
      timeouts: readTimeouts(env),
    },
    // Bull Board's actions (retry, clean, empty, obliterate, pause, add, edit jobs) are off
    // unless asked for: a click there deletes or re-runs messages.
    queueBoard: { write: readSwitch(env, 'QUEUE_BOARD_WRITE', false) },
    postgresPool: { max: readInt(env, 'API_PG_POOL_MAX', 10, 1, 1000) },
    // Both on in every deployment; `off` exists so that bench/ingest/limiter-overhead.ts can
    // measure what they cost in the same run.
    admission: {
      rateLimit: readSwitch(env, 'API_RATE_LIMIT', true),
      backpressure: readSwitch(env, 'API_BACKPRESSURE', true),
    },
    // Shedding by @fastify/under-pressure, sampled every second; 0 = that check is off.
    // A mean event-loop delay of 1 s means every request already waits a second before
    // its handler runs: refusing at once is kinder than queueing more.
    pressure: {
      maxEventLoopDelayMs: readInt(env, 'API_MAX_EVENT_LOOP_DELAY_MS', 1000, 0, 600_000),
      maxHeapUsedBytes: readInt(env, 'API_MAX_HEAP_BYTES', 0, 0, Number.MAX_SAFE_INTEGER),
      maxRssBytes: readInt(env, 'API_MAX_RSS_BYTES', 0, 0, Number.MAX_SAFE_INTEGER),
    },
    trustedProxies: parseTrustedProxies(readOptionalString(env, 'API_TRUST_PROXY')),
    receipts: readReceipts(env),
    runtime: runtimeConfigFromEnv(env),
  });
}
