import { randomBytes } from 'node:crypto';
import { ConfigError } from '@esh3ar/config';
import { describe, expect, it } from 'vitest';
import { waitReplicasOf } from '@esh3ar/config';
import { ADMIN_TOKEN_MIN_CHARS, ADMIN_TOKEN_PLACEHOLDERS, parseConfig } from './config.ts';

describe('parseConfig (api)', () => {
  it('applies the contract defaults', () => {
    const config = parseConfig({});
    expect(config.http).toEqual({
      host: '127.0.0.1',
      port: 3000,
      backlog: 16_384,
      reusePort: false,
      timeouts: { headersMs: 5000, requestMs: 10_000, keepAliveMs: 72_000, connectionMs: 60_000 },
    });
    expect(config.postgres.url).toBe('postgres://127.0.0.1:5432/esh3ar');
    expect(config.redis).toEqual({
      url: 'redis://127.0.0.1:6379',
      clusterNodes: null,
      prefix: 'esh3ar',
      allowVolatileBuffer: false,
      waitReplicas: null,
    });
    expect(config.adminToken).toBeNull();
    expect(config.queueBoard).toEqual({ write: false });
    expect(config.runtime.rateLimit.readsPerMinute).toBe(6000);
    expect(config.runtime.buffer).toEqual({ capacity: 50_000, highWatermark: 0.8 });
    expect(Object.isFrozen(config.runtime.buffer)).toBe(true);
    expect(config.admission).toEqual({ rateLimit: true, backpressure: true });
    expect(config.pressure).toEqual({ maxEventLoopDelayMs: 1000, maxHeapUsedBytes: 0, maxRssBytes: 0 });
  });

  it('waits for one replica on a Redis Cluster and none on one Redis, unless REDIS_WAIT_REPLICAS says otherwise', () => {
    const cluster = { REDIS_CLUSTER_NODES: 'redis-0:7000' };
    expect(waitReplicasOf(parseConfig({}).redis)).toBe(0);
    expect(waitReplicasOf(parseConfig(cluster).redis)).toBe(1);
    expect(waitReplicasOf(parseConfig({ ...cluster, REDIS_WAIT_REPLICAS: '0' }).redis)).toBe(0);
    expect(waitReplicasOf(parseConfig({ REDIS_WAIT_REPLICAS: '2' }).redis)).toBe(2);
  });

  it('reads the protection switches and pressure limits', () => {
    const config = parseConfig({
      API_RATE_LIMIT: 'off',
      API_BACKPRESSURE: 'OFF',
      API_MAX_EVENT_LOOP_DELAY_MS: '0',
      API_MAX_HEAP_BYTES: '1073741824',
      API_MAX_RSS_BYTES: '2147483648',
    });
    expect(config.admission).toEqual({ rateLimit: false, backpressure: false });
    expect(config.pressure).toEqual({ maxEventLoopDelayMs: 0, maxHeapUsedBytes: 1_073_741_824, maxRssBytes: 2_147_483_648 });
  });

  it('reads the timeouts, the queue board switch and ALLOW_VOLATILE_BUFFER', () => {
    const config = parseConfig({
      API_HEADERS_TIMEOUT_MS: '2000',
      API_REQUEST_TIMEOUT_MS: '30000',
      API_KEEP_ALIVE_TIMEOUT_MS: '65000',
      API_CONNECTION_TIMEOUT_MS: '120000',
      QUEUE_BOARD_WRITE: 'on',
      ALLOW_VOLATILE_BUFFER: 'on',
    });
    expect(config.http.timeouts).toEqual({ headersMs: 2000, requestMs: 30_000, keepAliveMs: 65_000, connectionMs: 120_000 });
    expect(config.queueBoard.write).toBe(true);
    expect(config.redis.allowVolatileBuffer).toBe(true);
  });

  it('takes an ADMIN_TOKEN of 32 characters or more: what the tests and `openssl rand -hex 32` make', () => {
    const token = `adm_${randomBytes(24).toString('base64url')}`;
    expect(parseConfig({ ADMIN_TOKEN: token }).adminToken).toBe(token);
    expect(parseConfig({ ADMIN_TOKEN: randomBytes(32).toString('hex') }).adminToken).toHaveLength(64);
    expect(parseConfig({ ADMIN_TOKEN: 'x'.repeat(ADMIN_TOKEN_MIN_CHARS) }).adminToken).toHaveLength(32);
  });

  it.each([
    ['change-me', 'ADMIN_TOKEN is the placeholder "change-me" of the examples'],
    ['admin', 'ADMIN_TOKEN must be at least 32 characters, got 5'],
    ['x'.repeat(31), 'ADMIN_TOKEN must be at least 32 characters, got 31'],
  ])('stops on ADMIN_TOKEN %j with a message saying how to make one', (token, message) => {
    expect(() => parseConfig({ ADMIN_TOKEN: token })).toThrow(message);
    expect(() => parseConfig({ ADMIN_TOKEN: token })).toThrow('openssl rand -hex 32');
  });

  it.each(ADMIN_TOKEN_PLACEHOLDERS)('refuses the documented placeholder %j', (placeholder) => {
    expect(() => parseConfig({ ADMIN_TOKEN: placeholder })).toThrow(ConfigError);
  });

  it.each([
    [{ API_PORT: 'abc' }, 'API_PORT must be an integer'],
    [{ API_PORT: '70000' }, 'API_PORT must be from 0 to 65535'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL must use postgres: or postgresql:'],
    [{ REDIS_URL: 'not a url' }, 'REDIS_URL must be a URL'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of'],
    [{ BUFFER_HIGH_WATERMARK: '1.5' }, 'BUFFER_HIGH_WATERMARK must be a number in (0, 1]'],
    [{ API_RATE_LIMIT: 'maybe' }, 'API_RATE_LIMIT must be on or off'],
    [{ API_REUSE_PORT: 'yes' }, 'API_REUSE_PORT must be on or off'],
    [{ API_MAX_HEAP_BYTES: '-1' }, 'API_MAX_HEAP_BYTES must be from 0'],
    [{ API_MAX_EVENT_LOOP_DELAY_MS: '1s' }, 'API_MAX_EVENT_LOOP_DELAY_MS must be an integer'],
    [{ API_REQUEST_TIMEOUT_MS: '0' }, 'API_REQUEST_TIMEOUT_MS must be from 1'],
    [{ API_HEADERS_TIMEOUT_MS: '20000' }, 'API_HEADERS_TIMEOUT_MS (20000) must not exceed API_REQUEST_TIMEOUT_MS (10000)'],
    [{ QUEUE_BOARD_WRITE: 'yes' }, 'QUEUE_BOARD_WRITE must be on or off'],
    [{ ALLOW_VOLATILE_BUFFER: 'maybe' }, 'ALLOW_VOLATILE_BUFFER must be on or off'],
  ])('stops with a message naming the variable for %j', (env, message) => {
    expect(() => parseConfig(env)).toThrow(message);
  });
});

describe('parseConfig (api): provider receipts', () => {
  it('has no provider routes without their secrets', () => {
    expect(parseConfig({}).receipts).toEqual({ twilio: null, meta: null });
    expect(parseConfig({ PUBLIC_BASE_URL: 'https://api.example.com' }).receipts).toEqual({ twilio: null, meta: null });
  });

  it('reads Twilio with the public address it signs, without a trailing slash', () => {
    const config = parseConfig({ PUBLIC_BASE_URL: 'https://api.example.com/esh3ar/', TWILIO_AUTH_TOKEN: 'tok' });
    expect(config.receipts.twilio).toEqual({ authToken: 'tok', publicBaseUrl: 'https://api.example.com/esh3ar' });
  });

  it('reads Meta, with or without the verify token of the handshake', () => {
    expect(parseConfig({ META_APP_SECRET: 's' }).receipts.meta).toEqual({ appSecret: 's', verifyToken: null });
    expect(parseConfig({ META_APP_SECRET: 's', META_WA_VERIFY_TOKEN: 'v' }).receipts.meta).toEqual({ appSecret: 's', verifyToken: 'v' });
  });

  it.each([
    [{ TWILIO_AUTH_TOKEN: 'tok' }, 'TWILIO_AUTH_TOKEN needs PUBLIC_BASE_URL'],
    [{ PUBLIC_BASE_URL: 'api.example.com' }, 'PUBLIC_BASE_URL must be an absolute http(s) URL'],
    [{ PUBLIC_BASE_URL: 'ftp://api.example.com' }, 'PUBLIC_BASE_URL must use http or https'],
    [{ PUBLIC_BASE_URL: 'https://api.example.com/?x=1' }, 'no query, fragment or credentials'],
    [{ PUBLIC_BASE_URL: 'https://user:pass@api.example.com' }, 'no query, fragment or credentials'],
  ])('stops on %j', (env, message) => {
    expect(() => parseConfig(env)).toThrow(message);
  });
});
