import { isUuid } from '@esh3ar/contracts';
import { ConfigError, deepFreeze, parseCommonConfig, readInt, readOptionalString, readPort, type Env } from '@esh3ar/config';
import { runtimeConfigFromEnv } from '@esh3ar/runtime';

/** HS256 with a shorter secret can be brute-forced offline from one token; 32 characters is 256 bits of hex or base64. */
export const DEVICE_TOKEN_SECRET_MIN_CHARS = 32;
/** The value shipped in infra/k8s/secret.example.yaml: refused by name, so that nobody runs with a published secret. */
export const DEVICE_TOKEN_SECRET_PLACEHOLDERS: readonly string[] = ['change-me'];

/** An identity provider whose device tokens the gateway accepts, and the one tenant they are good for. */
export interface TokenIssuer {
  /** The tokens' `iss`, exactly. */
  issuer: string;
  jwksUrl: string;
  /** Required in the tokens' `aud`: a token the provider issued for another application is refused. */
  audience: string;
  /** Tokens of this issuer receive this tenant's messages only. */
  tenant: string;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);
const ISSUER_KEYS = ['issuer', 'jwksUrl', 'audience', 'tenant'];

function readSecret(env: Env, issuers: readonly TokenIssuer[]): string | null {
  const secret = readOptionalString(env, 'DEVICE_TOKEN_SECRET');
  if (secret === null) {
    // With identity providers configured, the platform-wide development secret may be left out.
    if (issuers.length > 0) return null;
    throw new ConfigError('DEVICE_TOKEN_SECRET is required (or GATEWAY_TOKEN_ISSUERS): make one with `openssl rand -hex 32`');
  }
  if (DEVICE_TOKEN_SECRET_PLACEHOLDERS.includes(secret)) {
    throw new ConfigError(
      `DEVICE_TOKEN_SECRET is the placeholder "${secret}" of the examples: make a real one with \`openssl rand -hex 32\``,
    );
  }
  if (secret.length < DEVICE_TOKEN_SECRET_MIN_CHARS) {
    throw new ConfigError(
      `DEVICE_TOKEN_SECRET must be at least ${DEVICE_TOKEN_SECRET_MIN_CHARS} characters, got ${secret.length}: make one with \`openssl rand -hex 32\``,
    );
  }
  return secret;
}

/** GATEWAY_TOKEN_ISSUERS: `[{"issuer", "jwksUrl", "audience", "tenant"}, …]`, one entry per issuer. */
function parseTokenIssuers(text: string | null): TokenIssuer[] {
  if (text === null) return [];
  const name = 'GATEWAY_TOKEN_ISSUERS';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ConfigError(`${name} must be JSON: [{"issuer", "jwksUrl", "audience", "tenant"}, …]`);
  }
  if (!Array.isArray(value)) throw new ConfigError(`${name} must be a JSON array of {"issuer", "jwksUrl", "audience", "tenant"}`);
  const seen = new Set<string>();
  return value.map((entry: unknown, i) => {
    const at = `${name}[${i}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new ConfigError(`${at} must be an object`);
    const fields = entry as Record<string, unknown>;
    const extra = Object.keys(fields).filter((k) => !ISSUER_KEYS.includes(k));
    if (extra.length > 0) throw new ConfigError(`${at} has unknown keys ${extra.join(', ')}; known: ${ISSUER_KEYS.join(', ')}`);
    for (const key of ISSUER_KEYS) {
      if (typeof fields[key] !== 'string' || fields[key].trim() === '') throw new ConfigError(`${at}.${key} must be a non-empty string`);
    }
    const { issuer, jwksUrl, audience, tenant } = fields as unknown as TokenIssuer;
    if (seen.has(issuer)) throw new ConfigError(`${at}.issuer "${issuer}" is listed twice: an issuer names one tenant`);
    seen.add(issuer);
    let url: URL;
    try {
      url = new URL(jwksUrl);
    } catch {
      throw new ConfigError(`${at}.jwksUrl must be a URL, got "${jwksUrl}"`);
    }
    // Keys fetched over plain HTTP could be swapped on the way: anyone on the path could mint tokens.
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
      throw new ConfigError(`${at}.jwksUrl must use https: (http: only on 127.0.0.1, [::1] or localhost), got "${jwksUrl}"`);
    }
    if (!isUuid(tenant)) throw new ConfigError(`${at}.tenant must be a tenant id (a UUID), got "${tenant}"`);
    return { issuer, jwksUrl, audience, tenant: tenant.toLowerCase() };
  });
}

/**
 * How long stopping may take after SIGTERM before close-with-grace exits with code 1:
 * device sockets closed with 1001 and pending acks flushed. infra/ gives the container
 * longer before SIGKILL (infra/infra.test.ts and infra/k8s.test.ts check it).
 */
export const SHUTDOWN_GRACE_MS = 10_000;

export function parseConfig(env: Env) {
  const common = parseCommonConfig(env);
  const issuers = parseTokenIssuers(readOptionalString(env, 'GATEWAY_TOKEN_ISSUERS'));
  const pingIntervalMs = readInt(env, 'GATEWAY_PING_INTERVAL_MS', 30_000, 100, 600_000);
  return deepFreeze({
    ...common,
    http: {
      host: common.host,
      port: readPort(env, 'GATEWAY_PORT', 3001),
      backlog: readInt(env, 'GATEWAY_LISTEN_BACKLOG', 16_384, 1, 1_000_000),
    },
    deviceTokens: {
      /** HS256, platform-wide (development, tests, `token mint`); null: only the issuers' tokens. */
      secret: readSecret(env, issuers),
      issuers,
      // Auth0's default access-token lifetime (86,400 s) is the longest default among the
      // common providers; a token minted longer ago (by `iat`) is refused whatever its `exp`.
      maxAgeSeconds: readInt(env, 'GATEWAY_TOKEN_MAX_AGE_SECONDS', 86_400, 60, 31_536_000),
      // Between the provider's and the gateway's clocks (NTP keeps them well under 1 s
      // apart); an expired token stays good for at most this long.
      clockToleranceSeconds: readInt(env, 'GATEWAY_TOKEN_CLOCK_SKEW_SECONDS', 30, 0, 300),
      // jose's default: a token naming an unknown `kid` fetches the key set again at most
      // this often per issuer, so that forged kids cannot make the gateway hammer the provider.
      jwksCooldownMs: readInt(env, 'GATEWAY_JWKS_COOLDOWN_MS', 30_000, 0, 3_600_000),
    },
    connections: {
      // 40,000 × 13.3 KiB (the most RSS a connected device took, bench/gateway/memory.ts)
      // = 520 MiB, plus ~150 MiB the gateway holds before any device connects and ≤ 40 MiB
      // of pending status writes: ~710 MiB of the pod's 1 GiB limit (infra/k8s/base/gateway.yaml),
      // leaving ~300 MiB for the unread buffers of slow readers (≤ 1 MiB each, below).
      max: readInt(env, 'GATEWAY_MAX_CONNECTIONS', 40_000, 1, 10_000_000),
      // A phone is a few devices; more is a client reconnecting in a loop or one token shared around.
      perPhone: readInt(env, 'GATEWAY_MAX_CONNECTIONS_PER_PHONE', 10, 1, 10_000),
    },
    websocket: {
      // A device frame is an ack (≤ 1000 ids ≈ 40 KiB); anything larger is closed with 1009.
      maxFrameBytes: readInt(env, 'GATEWAY_MAX_FRAME_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
      // A connection that misses one ping interval's pong is dropped.
      pingIntervalMs,
      // Bad frames answered per connection in 10 s; one more closes it with 1008. An app
      // that follows the protocol sends none but the odd late ack (UNKNOWN_MESSAGE) after
      // a reconnect; at 2 a second, a hostile client costs the gateway nothing it notices.
      maxBadFrames: readInt(env, 'GATEWAY_MAX_BAD_FRAMES', 20, 1, 100_000),
    },
    slowReaders: {
      // Unread bytes a connection may hold before pushes to it stop until its socket drains:
      // ~5 replay pages (500 frames of a ~370-byte notification each), so that a device with
      // a long backlog crosses it (and replays again from PostgreSQL) once every 5 pages.
      maxBufferedBytes: readInt(env, 'GATEWAY_SLOW_READER_BYTES', 1_048_576, 1024, 1_073_741_824),
      // Not drained within this: closed with 1013. 1 MiB in 30 s is under 35 KB/s; the ping
      // sweep would drop a device that reads nothing within 1-2 intervals (30-60 s) anyway.
      closeAfterMs: readInt(env, 'GATEWAY_SLOW_READER_CLOSE_MS', pingIntervalMs, 100, 3_600_000),
    },
    presence: {
      // A SIGKILLed gateway's phones count as online at most this long.
      ttlMs: readInt(env, 'GATEWAY_PRESENCE_TTL_MS', 30_000, 300, 3_600_000),
    },
    replay: {
      pageSize: readInt(env, 'GATEWAY_REPLAY_PAGE_SIZE', 500, 1, 10_000),
      // Half of GATEWAY_PG_POOL_MAX's default 8: a reconnect storm's replays leave the other
      // connections to the status writes, the re-push checks and /health/ready.
      atOnce: readInt(env, 'GATEWAY_REPLAYS_AT_ONCE', 4, 1, 1000),
    },
    ackFlushMs: readInt(env, 'GATEWAY_ACK_FLUSH_MS', 50, 1, 10_000),
    statusWrites: {
      // Acks and sent marks held while PostgreSQL does not take them: ~210 B per ack
      // (id, phone, time) and ~80 B per sent mark measured, so ≤ ~40 MiB at 200,000, and
      // ~4-5 s to write once PostgreSQL is back (~45,000 acks/s in chunks of 5,000). At
      // the cap the gateway stops reading device sockets and pushing (status-writer.ts).
      maxPending: readInt(env, 'GATEWAY_STATUS_PENDING_MAX', 200_000, 100, 10_000_000),
    },
    postgresPool: { max: readInt(env, 'GATEWAY_PG_POOL_MAX', 8, 1, 1000) },
    runtime: (() => {
      const base = runtimeConfigFromEnv(env);
      const ackTimeoutMs = readInt(env, 'GATEWAY_ACK_TIMEOUT_MS', base.gateway.ackTimeoutMs, 100, 3_600_000);
      return { ...base, gateway: { ackTimeoutMs } };
    })(),
  });
}
export type GatewayConfig = ReturnType<typeof parseConfig>;
